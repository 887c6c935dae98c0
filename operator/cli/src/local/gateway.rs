//! One running local gateway: Envoy bootstrapped to an in-process xDS server, which delivers
//! every change step by step and reports what Envoy accepted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis_compile::compile::GatewayIdentity;
use portcullis_compile::plan::ListenerPlan;
use portcullis_envoy::{BootstrapOptions, ConfigDelivery, WasmCode, WasmModules, render_bootstrap};
use portcullis_xds::{Inputs, Module, ModuleSource, ProxyDefaults, ProxyStatus, XdsServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Compiled;
use super::demo::DemoUpstreams;
use crate::envoy::{
    Admin, EnvoyProcess, EnvoyProcessOptions, Error, Result, create_private_dir,
    stop_leftover_envoy, write_private,
};
use crate::locate::EnvoyBinary;

/// How long Envoy may take to accept a change (or to start).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// How the modules reach Envoy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModuleDelivery {
    /// Delivered by the xDS server inside the filter configurations, as a gateway in a
    /// cluster gets them.
    #[default]
    Served,
    /// Read by Envoy from the local files.
    Files,
}

/// What a local gateway needs besides its configuration.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Envoy executable.
    pub envoy: EnvoyBinary,
    /// Filter modules (local files).
    pub wasm: WasmModules,
    /// How the modules reach Envoy.
    pub module_delivery: ModuleDelivery,
    /// The gateway workload Envoy announces itself as.
    pub identity: GatewayIdentity,
    /// Admin port on 127.0.0.1.
    pub admin_port: u16,
    /// The xDS server's port on 127.0.0.1 (0: any free port).
    pub xds_port: u16,
    /// Directory for the bootstrap and logs (created, private).
    pub state_dir: PathBuf,
    /// Envoy worker threads.
    pub concurrency: u16,
    /// Start echo servers for STATIC 127.0.0.1 endpoints.
    pub demo_upstreams: bool,
    /// Write an access log (`<state dir>/access.log`); off for benchmarks.
    pub access_log: bool,
}

/// What an [`LocalGateway::apply`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The rollout's steps, in order (`clusters`, filter names, `listeners`, `secrets`).
    pub updated: Vec<String>,
    /// From publishing the change to Envoy's acceptance of its last step.
    pub elapsed: Duration,
    /// Demo upstreams started for new endpoints.
    pub new_demo_upstreams: Vec<(u16, String)>,
}

/// A running gateway. [`LocalGateway::stop`] it; dropping it kills Envoy and the server.
#[derive(Debug)]
pub struct LocalGateway {
    envoy: EnvoyProcess,
    envoy_options: EnvoyProcessOptions,
    server: XdsServer,
    defaults: ProxyDefaults,
    serving: ServerTask,
    xds_port: u16,
    node_id: String,
    state_dir: PathBuf,
    current: Compiled,
    demo: Option<DemoUpstreams>,
}

/// The xDS server's task and the way to stop it.
#[derive(Debug)]
struct ServerTask {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ServerTask {
    async fn spawn(server: &XdsServer, port: u16) -> Result<(Self, u16)> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| Error::io("bind the xDS server on 127.0.0.1", format!(":{port}"), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("read the xDS server's address", ":0", e))?
            .port();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = server.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = server.serve(listener, shutdown).await {
                tracing::error!(error = %e, "xDS server stopped");
            }
        });
        Ok((
            ServerTask {
                stop: Some(stop),
                task,
            },
            port,
        ))
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A stream held open by Envoy keeps the graceful shutdown waiting: stop it outright.
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalGateway {
    /// Starts the xDS server with `compiled`, the demo upstreams (if asked) and Envoy, and
    /// waits until Envoy serves the configuration.
    pub async fn start(compiled: Compiled, opts: GatewayOptions) -> Result<Self> {
        // An Envoy a killed earlier run left on this state directory still holds the ports.
        stop_leftover_envoy(
            &opts.state_dir.join("envoy.log"),
            &opts.state_dir.join("bootstrap.json"),
        )
        .await?;
        check_ports_bindable(&compiled.plan.listeners)?;
        create_private_dir(&opts.state_dir)?;
        let defaults = ProxyDefaults {
            bind_address: "127.0.0.1".into(),
            access_log: opts.access_log.then(|| opts.state_dir.join("access.log")),
            modules: module_source(&opts.wasm, opts.module_delivery)?,
        };
        let server = XdsServer::new(defaults.clone());
        server.publish(Inputs::Compiled {
            wire: compiled.wire.clone(),
            plan: compiled.plan.clone(),
        });
        let (serving, xds_port) = ServerTask::spawn(&server, opts.xds_port).await?;

        let node_id = format!("portcullis-local-{}", opts.admin_port);
        let bootstrap = render_bootstrap(&BootstrapOptions {
            node_id: node_id.clone(),
            labels: opts.identity.labels.clone(),
            namespace: Some(opts.identity.namespace.clone()),
            admin_port: opts.admin_port,
            delivery: ConfigDelivery::Ads(portcullis_envoy::XdsServer {
                address: "127.0.0.1".into(),
                port: xds_port,
            }),
        });
        let bootstrap_file = opts.state_dir.join("bootstrap.json");
        write_private(
            &bootstrap_file,
            &portcullis_envoy::api::to_json_value(&bootstrap),
        )?;

        let demo = if opts.demo_upstreams {
            let mut demo = DemoUpstreams::default();
            demo.ensure(&compiled.plan)
                .await
                .map_err(|e| Error::Demo(e.to_string()))?;
            Some(demo)
        } else {
            None
        };

        let envoy_options = EnvoyProcessOptions {
            binary: opts.envoy.path.clone(),
            bootstrap: bootstrap_file,
            log_path: opts.state_dir.join("envoy.log"),
            concurrency: opts.concurrency,
            admin_port: opts.admin_port,
        };
        let envoy = EnvoyProcess::start(&envoy_options, CONFIRM_TIMEOUT).await?;
        let mut gateway = LocalGateway {
            envoy,
            envoy_options,
            server,
            defaults,
            serving,
            xds_port,
            node_id,
            state_dir: opts.state_dir,
            current: compiled,
            demo,
        };
        let version = gateway.current.wire.config_version.clone();
        gateway.wait_serving(&version).await?;
        Ok(gateway)
    }

    /// Applies a new compilation without restarting Envoy. The xDS server delivers it in
    /// make-before-break order, each step confirmed by Envoy; when Envoy refuses a step, the
    /// steps already taken are undone, so the previous configuration keeps serving as a whole
    /// and stays the current one.
    pub async fn apply(&mut self, compiled: Compiled) -> Result<ApplyReport> {
        let start = Instant::now();
        let mut report = ApplyReport::default();
        // Upstreams first: the moment Envoy routes to a new endpoint it must answer.
        if let Some(demo) = &mut self.demo {
            report.new_demo_upstreams = demo
                .ensure(&compiled.plan)
                .await
                .map_err(|e| Error::Demo(e.to_string()))?;
        }
        let version = compiled.wire.config_version.clone();
        self.server.publish(Inputs::Compiled {
            wire: compiled.wire.clone(),
            plan: compiled.plan.clone(),
        });
        let status = self.wait_serving(&version).await?;
        report.updated = status.last_rollout;
        report.elapsed = start.elapsed();
        self.current = compiled;
        Ok(report)
    }

    /// Waits until Envoy serves configuration `version` as a whole (every step acknowledged,
    /// no listener still warming), or refused it.
    async fn wait_serving(&mut self, version: &str) -> Result<ProxyStatus> {
        let deadline = Instant::now() + CONFIRM_TIMEOUT;
        let mut changes = self.server.watch_status();
        loop {
            // The newest stream of the node: a restarted Envoy's old stream may linger.
            let status = self
                .server
                .status()
                .into_iter()
                .filter(|s| s.node_id == self.node_id)
                .max_by_key(|s| s.stream);
            if let Some(status) = &status {
                // A refusal is final once the undo is done and nothing is being delivered.
                if let Some(nack) = &status.last_nack
                    && nack.version == version
                    && !status.rolling_out
                {
                    return Err(self.with_reason(Error::Rejected {
                        resource: nack.resource.clone(),
                        detail: nack.detail.clone(),
                    }));
                }
                if status.synced_to(version) && self.listeners_warm().await? {
                    return Ok(status.clone());
                }
            }
            if let Some(reason) = self.envoy.exited() {
                return Err(Error::Process(reason));
            }
            if Instant::now() > deadline {
                return Err(Error::Rejected {
                    resource: "configuration".into(),
                    detail: format!(
                        "Envoy did not confirm {version} within {CONFIRM_TIMEOUT:?} (status: \
                         {status:?}); Envoy log:\n{}",
                        self.envoy.log_tail(15)
                    ),
                });
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), changes.changed()).await;
        }
    }

    /// Every listener is active: none is warming.
    async fn listeners_warm(&self) -> Result<bool> {
        let admin = self.envoy.admin();
        Ok(admin
            .counter("listener_manager.total_listeners_warming")
            .await?
            == 0)
    }

    /// Adds Envoy's own reason (the last error lines of its log) to a rejection.
    fn with_reason(&self, e: Error) -> Error {
        match e {
            Error::Rejected { resource, detail } => {
                let tail = self.envoy.log_tail(50);
                let reasons: Vec<&str> = tail.lines().filter(|l| l.contains("][error][")).collect();
                let reason = reasons[reasons.len().saturating_sub(3)..].join("\n");
                Error::Rejected {
                    resource,
                    detail: format!("{detail}\n{reason}"),
                }
            }
            other => other,
        }
    }

    /// Restarts Envoy from the same bootstrap: it reconnects to the server and gets the
    /// current configuration.
    pub async fn restart_envoy(&mut self) -> Result<()> {
        // The old process must be gone first: the new one binds the same ports.
        self.envoy.kill().await;
        self.envoy = EnvoyProcess::start(&self.envoy_options, CONFIRM_TIMEOUT).await?;
        let version = self.current.wire.config_version.clone();
        self.wait_serving(&version).await.map(|_| ())
    }

    /// Stops the xDS server, leaves Envoy running on what it has, and starts a new server on
    /// the same port with the current configuration; Envoy reconnects and resynchronises.
    /// Between the two, `between` runs (a test sends requests there).
    pub async fn restart_server<F: std::future::Future<Output = ()>>(
        &mut self,
        between: F,
    ) -> Result<()> {
        let old = std::mem::replace(
            &mut self.serving,
            ServerTask {
                stop: None,
                task: tokio::spawn(async {}),
            },
        );
        old.shut_down().await;
        between.await;
        self.server = XdsServer::new(self.defaults.clone());
        self.server.publish(Inputs::Compiled {
            wire: self.current.wire.clone(),
            plan: self.current.plan.clone(),
        });
        let (serving, _) = ServerTask::spawn(&self.server, self.xds_port).await?;
        self.serving = serving;
        let version = self.current.wire.config_version.clone();
        self.wait_serving(&version).await.map(|_| ())
    }

    /// `Some(reason)` once Envoy has exited on its own (crash, killed from outside).
    pub fn envoy_exited(&mut self) -> Option<String> {
        self.envoy.exited()
    }

    /// The configuration serving now (the last good one).
    pub fn current(&self) -> &Compiled {
        &self.current
    }
    /// The admin client.
    pub fn admin(&self) -> &Admin {
        self.envoy.admin()
    }
    /// The xDS server (status, metrics).
    pub fn server(&self) -> &XdsServer {
        &self.server
    }
    /// The xDS server's port on 127.0.0.1 (also its HTTP endpoints).
    pub fn xds_port(&self) -> u16 {
        self.xds_port
    }
    /// Envoy's log (audit records of the egress filter are here).
    pub fn envoy_log(&self) -> &Path {
        self.envoy.log_path()
    }
    /// The access log.
    pub fn access_log(&self) -> PathBuf {
        self.state_dir.join("access.log")
    }
    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
    /// The last lines of Envoy's log.
    pub fn envoy_log_tail(&self, n: usize) -> String {
        self.envoy.log_tail(n)
    }
    /// One `(listener, URL)` per listener, e.g. `("http.80", "http://127.0.0.1:10080")`.
    pub fn listen_urls(&self) -> Vec<(String, String)> {
        self.current
            .plan
            .listeners
            .iter()
            .map(|l| (l.name.clone(), listen_url(l)))
            .collect()
    }

    /// Stops Envoy, the server and the demo upstreams.
    pub async fn stop(self) -> Result<()> {
        drop(self.demo);
        let stopped = self.envoy.stop().await;
        self.serving.shut_down().await;
        stopped
    }
}

/// The modules as the server hands them out: read into memory to be served, or left as files.
fn module_source(wasm: &WasmModules, delivery: ModuleDelivery) -> Result<ModuleSource> {
    if delivery == ModuleDelivery::Files {
        return Ok(ModuleSource::Local(wasm.clone()));
    }
    let read = |code: &WasmCode| -> Result<Module> {
        match code {
            WasmCode::Local(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(Module::new(name, bytes))
            }
            WasmCode::Inline(bytes) => Ok(Module::new("module.wasm", bytes.to_vec())),
            WasmCode::Remote { url, .. } => Err(Error::Process(format!(
                "module {url} is remote; a local gateway serves local modules"
            ))),
        }
    };
    Ok(ModuleSource::served(
        read(&wasm.router)?,
        wasm.egress_audit.as_ref().map(read).transpose()?,
    ))
}

/// Envoy would only log a listener it cannot bind and never become ready: say why at once.
fn check_ports_bindable(listeners: &[ListenerPlan]) -> Result<()> {
    for l in listeners {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", l.bind_port)) {
            let hint = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    "; ports below 1024 need privileges: pass --port-offset 10000 to listen on \
                     Gateway port + 10000"
                }
                std::io::ErrorKind::AddrInUse => "; another process listens there",
                _ => "",
            };
            return Err(Error::Process(format!(
                "listener {} cannot bind 127.0.0.1:{}: {e}{hint}",
                l.name, l.bind_port
            )));
        }
    }
    Ok(())
}

fn listen_url(l: &ListenerPlan) -> String {
    let scheme = if !l.tls_chains.is_empty() {
        "https"
    } else if !l.passthrough.is_empty() {
        "tls"
    } else {
        "http"
    };
    format!("{scheme}://127.0.0.1:{}", l.bind_port)
}
