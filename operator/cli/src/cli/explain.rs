//! `portcullis explain`: what the gateway would do with one request.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::gateway_args::parse_key_value;
use super::{GatewayArgs, compile_files};
use portcullis_compile::explain::{ExplainError, ExplainRequest, explain, text};

/// `portcullis explain -f PATH... --host H --path P [--method M] [--header k=v]... [--port N]
/// [--sni NAME]`.
#[derive(Args, Clone, Debug)]
pub struct ExplainArgs {
    /// YAML files or directories holding the Istio resources.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// The gateway workload.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Host header of the request (a `:port` suffix is allowed).
    #[arg(long)]
    pub host: String,
    /// Path of the request, query string included.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request header `name=value`; repeat for several.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Gateway port the request arrives on (needed when there are several listeners).
    #[arg(long)]
    pub port: Option<u16>,
    /// Scheme (`http` or `https`); default: https on a TLS listener, else http.
    #[arg(long)]
    pub scheme: Option<String>,
    /// TLS SNI, which selects the server on a TLS port (G-11); default: the Host (without its
    /// port) for an https request. `--sni ''` means the client sent none.
    #[arg(long)]
    pub sni: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seed of the weighted-destination and percentage draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs `explain`. Exit 0 when the request was explained (even if it is refused), 1 when the
/// resources have errors that stop the explanation, 2 on usage problems.
pub fn explain_command(args: &ExplainArgs) -> ExitCode {
    let output = compile_files(
        &args.paths,
        &args.gateway.identity(),
        &args.gateway.options(),
    );
    let mut stderr = std::io::stderr().lock();
    for d in &output.diagnostics {
        let _ = writeln!(stderr, "{d}");
    }
    let request = ExplainRequest {
        host: args.host.clone(),
        path: args.path.clone(),
        method: args.method.clone(),
        scheme: args.scheme.clone(),
        sni: args.sni.clone(),
        // HTTP/2 carries names lower-case, and the matchers compare them so.
        headers: args
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect(),
        port: args.port,
    };
    match explain(&output.wire, &request, args.seed) {
        Ok(explanation) => {
            let out = if args.json {
                serde_json::to_string_pretty(&explanation).unwrap_or_default()
            } else {
                text::render(&explanation)
            };
            let _ = writeln!(std::io::stdout().lock(), "{out}");
            ExitCode::SUCCESS
        }
        Err(ExplainError::PortNeeded { listeners }) => {
            let ports: Vec<String> = listeners.iter().map(u16::to_string).collect();
            let _ = writeln!(
                stderr,
                "error: choose a gateway port with --port (listeners: {})",
                ports.join(", ")
            );
            ExitCode::from(2)
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            ExitCode::from(2)
        }
    }
}
