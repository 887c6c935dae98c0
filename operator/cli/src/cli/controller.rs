//! `portcullis controller`: the in-cluster mode. Watches the Istio resources and
//! GatewayFilters through the Kubernetes API (`KUBECONFIG`, else the pod's service account)
//! and serves the gateway Envoys over xDS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use portcullis_controller::leader::Election;
use portcullis_controller::publish::Debounce;
use portcullis_controller::watch::Scope;
use portcullis_controller::{Config, run};
use portcullis_envoy::WasmCode;
use portcullis_xds::{Module, ModuleSource, ProxyDefaults};

use crate::locate::locate_modules;

/// `portcullis controller [--listen ADDR] [--namespace NS] [--leader-elect] ...`.
#[derive(Args, Clone, Debug)]
pub struct ControllerArgs {
    /// Where the xDS server listens (gRPC ADS, and `/metrics`, `/healthz`, `/readyz`,
    /// `/status` on the same port).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:15010")]
    pub listen: SocketAddr,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Elect one active replica through a Lease (run more than one replica only with this).
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's namespace (default: `$POD_NAMESPACE`, else `portcullis-system`).
    #[arg(long, value_name = "NS")]
    pub lease_namespace: Option<String>,
    /// The Lease's name.
    #[arg(long, value_name = "NAME", default_value = "portcullis-controller")]
    pub lease_name: String,
    /// This replica's identity (default: `$POD_NAME`, else the host name).
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
    /// The filter modules' directory (default: `$PORTCULLIS_WASM_DIR`, else beside the
    /// binary); they are delivered to the Envoys over xDS.
    #[arg(long, value_name = "DIR")]
    pub wasm_dir: Option<PathBuf>,
    /// The address gateway listeners bind inside the Envoy pods.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: String,
    /// The gateways' access log (empty: none).
    #[arg(long, value_name = "PATH", default_value = "/dev/stdout")]
    pub access_log: String,
    /// The URL gateways fetch modules from this controller at, e.g.
    /// `http://portcullis.portcullis-system:15010` (needed by `IstioWasmPlugin`
    /// GatewayFilters: istio-agent downloads `<url>/modules/<sha256>`).
    #[arg(long, value_name = "URL")]
    pub module_url: Option<String>,
    /// Publish once changes have been quiet this many milliseconds (bursts are one push).
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub debounce_ms: u64,
}

/// Runs until SIGTERM/Ctrl-C, or until leadership is lost (exit 1: the pod restarts as a
/// standby).
pub fn controller_command(args: &ControllerArgs) -> anyhow::Result<ExitCode> {
    let modules = served_modules(args.wasm_dir.as_deref())?;
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "portcullis-controller".to_string());
    let election = args.leader_elect.then(|| Election {
        namespace: args
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "portcullis-system".to_string()),
        name: args.lease_name.clone(),
        identity: identity.clone(),
        term: Duration::from_secs(15),
        retry: Duration::from_secs(2),
    });
    let config = Config {
        listen: args.listen,
        scope: Scope {
            namespace: args.namespace.clone(),
        },
        election,
        debounce: Debounce {
            quiet: Duration::from_millis(args.debounce_ms),
            ..Debounce::default()
        },
        proxy: ProxyDefaults {
            bind_address: args.bind_address.clone(),
            access_log: (!args.access_log.is_empty()).then(|| PathBuf::from(&args.access_log)),
            modules,
        },
        instance: identity,
        module_url: args.module_url.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("no Kubernetes API: set KUBECONFIG, or run in a pod with a service account")?;
        run(
            client,
            config,
            crate::local::up::shutdown_signal(),
            |running| {
                tracing::info!(address = %running.address, "serving xDS");
                eprintln!("portcullis controller: serving xDS on {}", running.address);
            },
        )
        .await
        .context("controller stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn served_modules(dir: Option<&std::path::Path>) -> anyhow::Result<ModuleSource> {
    let local = locate_modules(dir)?;
    let read = |code: &WasmCode| -> anyhow::Result<Module> {
        let WasmCode::Local(path) = code else {
            anyhow::bail!("modules must be files");
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Module::new(name, bytes))
    };
    Ok(ModuleSource::served(
        read(&local.router)?,
        local.egress_audit.as_ref().map(read).transpose()?,
    ))
}
