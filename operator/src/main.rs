//! The `portcullis` command.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::envoy::find_or_install_envoy;
use portcullis::local::{
    Compiled, Compiler, GatewayOptions, UpOptions, find_or_build_modules, run_up,
};

/// Portcullis: Istio Gateway and VirtualService semantics on plain Envoy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local gateway for a directory of Istio resources, applying changes live.
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Directory of Istio resources (YAML).
    #[arg(short = 'f', long = "file")]
    dir: PathBuf,
    /// Added to every Gateway port to get the local listen port (80 → 10080).
    #[arg(long, default_value_t = 10000)]
    port_offset: u16,
    /// Labels of the gateway workload, `k=v,k=v`, matched against Gateway selectors.
    #[arg(long, default_value = "istio=ingressgateway")]
    gateway_labels: String,
    /// Namespace of the gateway workload.
    #[arg(long, default_value = "istio-system")]
    gateway_namespace: String,
    /// Envoy admin port on 127.0.0.1.
    #[arg(long, default_value_t = 15000)]
    admin_port: u16,
    /// Start echo servers for STATIC ServiceEntry endpoints on 127.0.0.1.
    #[arg(long)]
    demo_upstreams: bool,
    /// Envoy worker threads.
    #[arg(long, default_value_t = 1)]
    concurrency: u16,
    /// Do not write an access log (benchmarks).
    #[arg(long)]
    no_access_log: bool,
    /// Where config files and logs go.
    #[arg(long, default_value = ".portcullis")]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up(args),
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    let say = |line: &str| eprintln!("{line}");
    let envoy = find_or_install_envoy(&say)?;
    eprintln!("Envoy: {} ({})", envoy.path.display(), envoy.source);
    let wasm = find_or_build_modules(&say)?;
    let state_dir = std::path::absolute(&args.state_dir).context("state dir")?;
    let opts = UpOptions {
        dir: args.dir.clone(),
        gateway: GatewayOptions {
            envoy,
            wasm,
            admin_port: args.admin_port,
            state_dir,
            concurrency: args.concurrency,
            demo_upstreams: args.demo_upstreams,
            access_log: !args.no_access_log,
        },
    };
    let compiler = compiler(&args);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(run_up(compiler, opts))
}

/// The Istio compiler lands from the operator-compile branch; until then `up` explains itself.
fn compiler(args: &UpArgs) -> Arc<dyn Compiler> {
    let settings = format!(
        "labels {} in namespace {}, port offset {}",
        args.gateway_labels, args.gateway_namespace, args.port_offset
    );
    Arc::new(move |_dir: &std::path::Path| -> Result<Compiled, String> {
        Err(format!(
            "the Istio compiler is not built into this binary yet ({settings})"
        ))
    })
}
