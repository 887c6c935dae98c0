//! `portcullis up`: a local gateway for a directory of Istio resources.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use clap::{Args, ValueEnum};
use portcullis_compile::admission::Admission;
use portcullis_compile::compile::CompileOptions;
use portcullis_compile::diagnostics::{Severity, keeps_last_good};

use super::{GatewayArgs, compile_files_admitted};
use crate::local::{Compiled, Compiler, GatewayOptions, ModuleDelivery, UpOptions, run_up};
use crate::locate::{locate_envoy, locate_modules};

/// `portcullis up -f DIR [flags]`.
#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    /// Directory of Istio resources (YAML).
    #[arg(short = 'f', long = "file")]
    pub dir: PathBuf,
    /// The gateway workload, and the port offset of the local listeners.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Envoy admin port on 127.0.0.1.
    #[arg(long, default_value_t = 15000)]
    pub admin_port: u16,
    /// Port of the in-process xDS server on 127.0.0.1 (ADS, and its HTTP endpoints
    /// /status, /metrics, /healthz, /readyz); 0 picks a free one.
    #[arg(long, default_value_t = 15010)]
    pub xds_port: u16,
    /// How the filter modules reach Envoy: delivered by the xDS server inside the filter
    /// configurations, as in a cluster, or read from the local files.
    #[arg(long, value_enum, default_value_t = Modules::Served)]
    pub modules: Modules,
    /// Start echo servers for STATIC ServiceEntry endpoints on 127.0.0.1.
    #[arg(long)]
    pub demo_upstreams: bool,
    /// Envoy worker threads.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u16,
    /// Do not write an access log (benchmarks).
    #[arg(long)]
    pub no_access_log: bool,
    /// Where the bootstrap and logs go (created, private to the user).
    #[arg(long, default_value = ".portcullis")]
    pub state_dir: PathBuf,
    /// The Envoy executable (default: $PORTCULLIS_ENVOY, then `envoy` next to this binary,
    /// then on PATH).
    #[arg(long, value_name = "PATH")]
    pub envoy: Option<PathBuf>,
    /// Directory holding portcullis_router.wasm and portcullis_egress_audit.wasm (default:
    /// $PORTCULLIS_WASM_DIR, then this binary's directory).
    #[arg(long, value_name = "DIR")]
    pub wasm_dir: Option<PathBuf>,
}

/// `--modules`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Modules {
    /// Delivered by the xDS server.
    Served,
    /// Local files.
    Files,
}

/// Runs `up` until Ctrl-C or SIGTERM.
pub fn up_command(args: &UpArgs) -> anyhow::Result<()> {
    let envoy = locate_envoy(args.envoy.as_deref())?;
    eprintln!("Envoy: {} ({})", envoy.path.display(), envoy.source);
    let wasm = locate_modules(args.wasm_dir.as_deref())?;
    let state_dir = std::path::absolute(&args.state_dir).context("state dir")?;
    let opts = UpOptions {
        dir: args.dir.clone(),
        gateway: GatewayOptions {
            envoy,
            wasm,
            module_delivery: match args.modules {
                Modules::Served => ModuleDelivery::Served,
                Modules::Files => ModuleDelivery::Files,
            },
            identity: args.gateway.identity(),
            admin_port: args.admin_port,
            xds_port: args.xds_port,
            state_dir,
            concurrency: args.concurrency,
            demo_upstreams: args.demo_upstreams,
            access_log: !args.no_access_log,
        },
    };
    let compiler = compiler(&args.gateway);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(run_up(compiler, opts))
}

/// The Istio compiler for `up`: load the directory, compile for the gateway the flags describe.
///
/// As Istio does, a resource Istio would refuse keeps its previously accepted version
/// serving, and a piece Portcullis cannot serve is dropped while the rest serves; both are
/// printed and the change applies. Only input that cannot be read at all (a file that is not
/// YAML, a document without a kind) refuses the whole change, so the last good configuration
/// keeps serving.
fn compiler(gateway: &GatewayArgs) -> Arc<dyn Compiler> {
    let gateway = gateway.clone();
    let admission = Mutex::new(Admission::default());
    Arc::new(move |dir: &Path| -> Result<Compiled, String> {
        let mut admission = admission.lock().unwrap_or_else(PoisonError::into_inner);
        let out = compile_files_admitted(
            &mut admission,
            &[dir.to_path_buf()],
            &gateway.identity(),
            &CompileOptions {
                // `up`'s gateway is this machine: the certificate files are read here.
                local_files: true,
                ..gateway.options()
            },
        );
        let shown: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Info)
            .map(|d| format!("  {d}"))
            .collect();
        if keeps_last_good(&out.diagnostics) {
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
