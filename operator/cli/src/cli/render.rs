//! `portcullis render`: compile files and print the wire config and the Envoy plan.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::GatewayArgs;
use crate::load::load_paths;
use portcullis_compile::compile::{CompileOptions, CompileOutput, GatewayIdentity, compile};
use portcullis_compile::diagnostics::has_errors;

/// `portcullis render -f PATH... [gateway flags]`.
#[derive(Args, Clone, Debug)]
pub struct RenderArgs {
    /// YAML files or directories (one level deep) holding the Istio resources.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// The gateway workload.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print only the wire config (what the filters receive).
    #[arg(long)]
    pub wire_only: bool,
}

/// Loads and compiles `paths`; the loader's diagnostics are merged into the output's.
pub fn compile_files(
    paths: &[PathBuf],
    gateway: &GatewayIdentity,
    options: &CompileOptions,
) -> CompileOutput {
    let loaded = load_paths(paths);
    let mut output = compile(&loaded.resources, gateway, options);
    output.diagnostics.extend(loaded.diagnostics);
    output.diagnostics.sort();
    output
}

/// Runs `render`: JSON on stdout, diagnostics on stderr; exit 1 when any diagnostic is an error.
pub fn render_command(args: &RenderArgs) -> ExitCode {
    let output = compile_files(
        &args.paths,
        &args.gateway.identity(),
        &args.gateway.options(),
    );
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Rendered<'a> {
        content_hash: &'a str,
        wire: &'a portcullis_core::wire::WireConfig,
        envoy: &'a portcullis_compile::plan::EnvoyPlan,
    }
    let json = if args.wire_only {
        serde_json::to_string_pretty(&output.wire)
    } else {
        serde_json::to_string_pretty(&Rendered {
            content_hash: &output.content_hash,
            wire: &output.wire,
            envoy: &output.envoy,
        })
    };
    let mut stderr = std::io::stderr().lock();
    for d in &output.diagnostics {
        let _ = writeln!(stderr, "{d}");
    }
    match json {
        Ok(json) => {
            let _ = writeln!(std::io::stdout().lock(), "{json}");
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot serialise the output: {e}");
            return ExitCode::from(2);
        }
    }
    if has_errors(&output.diagnostics) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
