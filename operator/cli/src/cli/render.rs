//! `portcullis render`: compile files and print the wire config and the Envoy plan.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::GatewayArgs;
use crate::load::load_paths;
use portcullis_compile::admission::Admission;
use portcullis_compile::compile::{CompileOptions, CompileOutput, GatewayIdentity};
use portcullis_compile::diagnostics::{Severity, has_errors};

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
    /// Exit non-zero on warnings too, not only on errors.
    #[arg(long)]
    pub strict: bool,
}

/// Loads and compiles `paths` as a first `up` would serve them: every resource Istio would
/// refuse is left out; the loader's diagnostics are merged into the output's.
pub fn compile_files(
    paths: &[PathBuf],
    gateway: &GatewayIdentity,
    options: &CompileOptions,
) -> CompileOutput {
    compile_files_admitted(&mut Admission::default(), paths, gateway, options)
}

/// Loads and compiles `paths` through `admission`, which puts back the accepted version of
/// every resource Istio would refuse.
pub fn compile_files_admitted(
    admission: &mut Admission,
    paths: &[PathBuf],
    gateway: &GatewayIdentity,
    options: &CompileOptions,
) -> CompileOutput {
    let loaded = load_paths(paths);
    let mut output = admission.compile(&loaded.resources, &loaded.diagnostics, gateway, options);
    output.diagnostics.extend(loaded.diagnostics);
    output.diagnostics.sort();
    output
}

/// Runs `render`: JSON on stdout, diagnostics on stderr; exit 1 when any diagnostic is an error
/// (something was dropped or refused), or with `--strict` a warning.
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
    let warned = output
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Warning);
    if has_errors(&output.diagnostics) || (args.strict && warned) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
