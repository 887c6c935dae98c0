//! The `portcullis` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::cli::{
    ExplainArgs, GatewayArgs, RenderArgs, compile_files, explain_command, render_command,
};
use portcullis::local::{Compiled, Compiler, GatewayOptions, UpOptions, run_up};
use portcullis::locate::{locate_envoy, locate_modules};
use portcullis_compile::diagnostics::{Severity, has_errors};

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
    /// The gateway workload, and the port offset of the local listeners.
    #[command(flatten)]
    gateway: GatewayArgs,
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
    /// The Envoy executable (default: $PORTCULLIS_ENVOY, then `envoy` next to this binary,
    /// then on PATH).
    #[arg(long, value_name = "PATH")]
    envoy: Option<PathBuf>,
    /// Directory holding portcullis_router.wasm and portcullis_egress_audit.wasm (default:
    /// $PORTCULLIS_WASM_DIR, then this binary's directory).
    #[arg(long, value_name = "DIR")]
    wasm_dir: Option<PathBuf>,
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
    let envoy = locate_envoy(args.envoy.as_deref())?;
    eprintln!("Envoy: {} ({})", envoy.path.display(), envoy.source);
    let wasm = locate_modules(args.wasm_dir.as_deref())?;
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
    let gateway = args.gateway.clone();
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
