//! The `portcullis` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::cli::{
    ExplainArgs, GatewayArgs, RenderArgs, compile_files, explain_command, render_command,
};
use portcullis::diagnostics::{Severity, has_errors};
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
    /// Compile Istio resources and print the wire config and Envoy plan.
    Render(RenderArgs),
    /// Explain which route would take a request.
    Explain(ExplainArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Directory of Istio resources (YAML).
    #[arg(short = 'f', long = "file")]
    dir: PathBuf,
    /// Added to every Gateway port to get the local listen port (80 → 10080).
    #[arg(long, default_value_t = 10000)]
    port_offset: u16,
    /// Labels of the gateway workload, `k=v,k=v`, matched against Gateway selectors
    /// (`istio=egressgateway` makes it an egress gateway).
    #[arg(long, default_value = "istio=ingressgateway", value_parser = parse_labels)]
    gateway_labels: Labels,
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

/// Parsed `k=v,k=v`.
#[derive(Clone, Debug)]
struct Labels(Vec<(String, String)>);

fn parse_labels(s: &str) -> Result<Labels, String> {
    s.split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| match kv.trim().split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("expected k=v, got {kv:?}")),
        })
        .collect::<Result<_, _>>()
        .map(Labels)
}

fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up(args).map(|()| ExitCode::SUCCESS),
        Command::Render(args) => Ok(render_command(&args)),
        Command::Explain(args) => Ok(explain_command(&args)),
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

/// The Istio compiler for `up`: load the directory, compile for the gateway the flags describe.
/// Errors refuse the change; warnings are printed and the change applies.
fn compiler(args: &UpArgs) -> Arc<dyn Compiler> {
    let gateway = GatewayArgs {
        gateway_labels: args.gateway_labels.0.clone(),
        gateway_namespace: args.gateway_namespace.clone(),
        port_offset: args.port_offset,
    };
    Arc::new(move |dir: &Path| -> Result<Compiled, String> {
        let out = compile_files(
            &[dir.to_path_buf()],
            &gateway.identity(),
            &gateway.options(),
        );
        let shown: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Info)
            .map(|d| format!("  {d}"))
            .collect();
        if has_errors(&out.diagnostics) {
            return Err(shown.join("\n"));
        }
        for line in &shown {
            eprintln!("{line}");
        }
        Ok(Compiled {
            wire: out.wire,
            plan: out.envoy,
        })
    })
}
