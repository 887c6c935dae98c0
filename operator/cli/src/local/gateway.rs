//! One running local gateway: Envoy, its configuration files, and live updates.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis_envoy::rollout::{Step, rollout, undo};
use portcullis_envoy::{
    BootstrapOptions, ConfigDelivery, ConfigDir, ROUTER_FILTER, RenderOptions, Snapshot,
    TlsDelivery, WasmModules, render, render_bootstrap,
};

use super::Compiled;
use super::demo::DemoUpstreams;
use super::file_delivery::{FileDelivery, ecds_rejected_stat};
use crate::envoy::{
    Admin, EnvoyProcess, EnvoyProcessOptions, Error, Result, create_config_dir, write_atomically,
};
use crate::locate::EnvoyBinary;
use portcullis_compile::plan::ListenerPlan;

/// What a local gateway needs besides its configuration.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Envoy executable.
    pub envoy: EnvoyBinary,
    /// Filter modules.
    pub wasm: WasmModules,
    /// Admin port on 127.0.0.1.
    pub admin_port: u16,
    /// Directory for config files and logs (created).
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
    /// Resources rewritten, in order (`clusters`, filter names, `listeners`).
    pub updated: Vec<String>,
    /// From the first write to Envoy's last confirmation.
    pub elapsed: Duration,
    /// Demo upstreams started for new endpoints.
    pub new_demo_upstreams: Vec<(u16, String)>,
}

/// A running gateway. [`LocalGateway::stop`] it; dropping it kills Envoy too.
#[derive(Debug)]
pub struct LocalGateway {
    envoy: EnvoyProcess,
    render: RenderOptions,
    delivery: FileDelivery,
    state_dir: PathBuf,
    current: Compiled,
    snapshot: Snapshot,
    demo: Option<DemoUpstreams>,
}

impl LocalGateway {
    /// Writes the configuration, starts the demo upstreams (if asked) and Envoy, and waits until
    /// the filters have loaded their configuration.
    pub async fn start(compiled: Compiled, opts: GatewayOptions) -> Result<Self> {
        check_ports_bindable(&compiled.plan.listeners)?;
        let config_dir = ConfigDir::new(opts.state_dir.join("config"));
        create_config_dir(&config_dir)?;
        let render_options = RenderOptions {
            delivery: ConfigDelivery::Files(config_dir.clone()),
            bind_address: "127.0.0.1".into(),
            wasm: opts.wasm.clone(),
            tls: TlsDelivery::Inline,
            access_log: opts.access_log.then(|| opts.state_dir.join("access.log")),
        };
        let snapshot = render(&compiled.plan, &compiled.wire, &render_options)?;
        let bootstrap =
            portcullis_envoy::api::to_json_value(&render_bootstrap(&BootstrapOptions {
                node_id: format!("portcullis-local-{}", opts.admin_port),
                labels: Default::default(),
                namespace: None,
                admin_port: opts.admin_port,
                delivery: render_options.delivery.clone(),
            }));
        write_atomically(&config_dir.bootstrap_file(), &bootstrap)?;
        let delivery = FileDelivery::new(config_dir.clone());
        // Before Envoy runs nothing needs confirming: write every step as it is.
        for step in rollout(None, &snapshot) {
            delivery.write(&step, &snapshot.version)?;
        }

        let demo = if opts.demo_upstreams {
            let mut demo = DemoUpstreams::default();
            demo.ensure(&compiled.plan)
                .await
                .map_err(|e| Error::Demo(e.to_string()))?;
            Some(demo)
        } else {
            None
        };

        let process = EnvoyProcessOptions {
            binary: opts.envoy.path.clone(),
            bootstrap: config_dir.bootstrap_file(),
            log_path: opts.state_dir.join("envoy.log"),
            concurrency: opts.concurrency,
            admin_port: opts.admin_port,
        };
        let envoy = EnvoyProcess::start(&process, Duration::from_secs(30)).await?;
        let gateway = LocalGateway {
            envoy,
            render: render_options,
            delivery,
            state_dir: opts.state_dir,
            current: compiled,
            snapshot,
            demo,
        };
        gateway.wait_listeners_active().await?;
        Ok(gateway)
    }

    /// Applies a new compilation without restarting Envoy, in the make-before-break order of
    /// [`rollout`], each step confirmed by Envoy. When Envoy refuses a step, the steps already
    /// taken are undone in reverse order, so the previous configuration keeps serving as a
    /// whole, and stays the current one.
    pub async fn apply(&mut self, compiled: Compiled) -> Result<ApplyReport> {
        let new = render(&compiled.plan, &compiled.wire, &self.render)?;
        let start = Instant::now();
        let mut report = ApplyReport::default();
        // Upstreams first: the moment Envoy routes to a new endpoint it must answer.
        if let Some(demo) = &mut self.demo {
            report.new_demo_upstreams = demo
                .ensure(&compiled.plan)
                .await
                .map_err(|e| Error::Demo(e.to_string()))?;
        }
        let admin = self.envoy.admin().clone();
        let steps = rollout(Some(&self.snapshot), &new);
        for (index, step) in steps.iter().enumerate() {
            // A filter config that no listener used before is first read when the listener
            // that uses it arrives: there is nothing to confirm yet.
            let confirm = match step {
                Step::FilterConfig(config) => self.snapshot.filter_config(&config.name).is_some(),
                _ => true,
            };
            let outcome = if confirm {
                self.delivery.apply(&admin, step, &new.version).await
            } else {
                self.delivery.write(step, &new.version)
            };
            if let Err(error) = outcome {
                // Put the refused file back too: a restarted Envoy, or anyone reading the
                // file, then sees what is actually serving.
                let back = undo(&self.snapshot, &steps[..=index]);
                for step in &back {
                    let _ = self
                        .delivery
                        .apply(&admin, step, &self.snapshot.version)
                        .await;
                }
                return Err(self.with_reason(error));
            }
            report.updated.push(step.resource().to_string());
        }
        report.updated.dedup();
        report.elapsed = start.elapsed();
        self.snapshot = new;
        self.current = compiled;
        Ok(report)
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

    /// Waits until every listener of the plan is active (ECDS-fed listeners warm until the
    /// filter config has loaded) and the router filter accepted its first config.
    async fn wait_listeners_active(&self) -> Result<()> {
        let admin = self.envoy.admin();
        let want = self.current.plan.listeners.len() as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        let rejected_stat = ecds_rejected_stat(ROUTER_FILTER);
        loop {
            let active = admin
                .counter("listener_manager.total_listeners_active")
                .await?;
            let rejected = admin.counter(&rejected_stat).await?;
            if rejected > 0 {
                return Err(Error::Rejected {
                    resource: ROUTER_FILTER.into(),
                    detail: format!(
                        "initial config rejected; Envoy log:\n{}",
                        self.envoy.log_tail(15)
                    ),
                });
            }
            if active >= want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "{active} of {want} listeners active after 30 s; Envoy log:\n{}",
                    self.envoy.log_tail(15)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    /// Stops Envoy and the demo upstreams.
    pub async fn stop(self) -> Result<()> {
        drop(self.demo);
        self.envoy.stop().await
    }
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
