//! The `portcullis` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::cli::{
    BootstrapArgs, ControllerArgs, ExplainArgs, ModulesArgs, RenderArgs, StatusArgs, UpArgs,
    bootstrap_command, controller_command, explain_command, modules_command, render_command,
    status_command, up_command,
};

/// Portcullis: Istio Gateway and VirtualService semantics on plain Envoy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log lines as text, or as one JSON object per line (for log collectors in a cluster).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local gateway for a directory of Istio resources, applying changes live.
    Up(UpArgs),
    /// Compile Istio resources and print the wire config and Envoy plan.
    Render(RenderArgs),
    /// Explain which route would take a request.
    Explain(ExplainArgs),
    /// Print the Envoy bootstrap of a gateway served by a Portcullis xDS server (or by files).
    Bootstrap(BootstrapArgs),
    /// Copy the filter modules into a directory (for gateways that load them from disk).
    Modules(ModulesArgs),
    /// Show each proxy connected to an xDS server: what it serves, its last refusal.
    Status(StatusArgs),
    /// Run in a cluster: watch Istio resources and GatewayFilters, serve the gateways over xDS.
    Controller(ControllerArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    match cli.command {
        Command::Up(args) => up_command(&args).map(|()| ExitCode::SUCCESS),
        Command::Render(args) => Ok(render_command(&args)),
        Command::Explain(args) => Ok(explain_command(&args)),
        Command::Bootstrap(args) => Ok(bootstrap_command(&args)),
        Command::Modules(args) => modules_command(&args),
        Command::Status(args) => Ok(status_command(&args)),
        Command::Controller(args) => controller_command(&args),
    }
}
