//! One running local gateway: Envoy, its configuration files, and live updates.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Compiled;
use super::demo::DemoUpstreams;
use portcullis_envoy::{
    ConfigDir, EGRESS_AUDIT_FILTER, ROUTER_FILTER, RenderOptions, Resources, WasmModules,
    render_bootstrap, render_resources,
};

use crate::envoy::{
    Admin, EnvoyProcess, EnvoyProcessOptions, Error, Result, create_config_dir, write_atomically,
};
use crate::locate::EnvoyBinary;
use portcullis_compile::plan::ListenerPlan;

/// How long Envoy may take to confirm one file update.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

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
    state_dir: PathBuf,
    current: Compiled,
    resources: Resources,
    demo: Option<DemoUpstreams>,
}

impl LocalGateway {
    /// Writes the configuration, starts the demo upstreams (if asked) and Envoy, and waits until
    /// the filters have loaded their configuration.
    pub async fn start(compiled: Compiled, opts: GatewayOptions) -> Result<Self> {
        let config_dir = ConfigDir::new(opts.state_dir.join("config"));
        create_config_dir(&config_dir)?;
        let render = RenderOptions {
            node_id: format!("portcullis-local-{}", opts.admin_port),
            config_dir: config_dir.clone(),
            admin_port: opts.admin_port,
            bind_address: "127.0.0.1".into(),
            wasm: opts.wasm.clone(),
            access_log: opts.access_log.then(|| opts.state_dir.join("access.log")),
        };
        let resources = render_resources(&compiled.plan, &compiled.wire, &render)?;
        write_atomically(&config_dir.bootstrap_file(), &render_bootstrap(&render))?;
        write_atomically(&config_dir.clusters_file(), &resources.clusters)?;
        write_atomically(&config_dir.router_file(), &resources.router)?;
        if let Some(audit) = &resources.egress_audit {
            write_atomically(&config_dir.egress_audit_file(), audit)?;
        }
        write_atomically(&config_dir.listeners_file(), &resources.listeners)?;

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
            render,
            state_dir: opts.state_dir,
            current: compiled,
            resources,
            demo,
        };
        gateway.wait_listeners_active().await?;
        Ok(gateway)
    }

    /// Applies a new compilation without restarting Envoy. On error the previous configuration
    /// keeps serving (Envoy keeps the last accepted resources) and stays the current one.
    ///
    /// Order matters for requests in flight: clusters are added first (old ones kept), then the
    /// filter configs that may route to them, then the listeners, and only then are clusters
    /// nobody routes to any more removed.
    pub async fn apply(&mut self, compiled: Compiled) -> Result<ApplyReport> {
        let new = render_resources(&compiled.plan, &compiled.wire, &self.render)?;
        let start = Instant::now();
        let mut report = ApplyReport::default();
        // Upstreams first: the moment Envoy routes to a new endpoint it must answer.
        if let Some(demo) = &mut self.demo {
            report.new_demo_upstreams = demo
                .ensure(&compiled.plan)
                .await
                .map_err(|e| Error::Demo(e.to_string()))?;
        }
        let dir = self.render.config_dir.clone();
        let admin = self.envoy.admin().clone();

        let clusters_changed = new.clusters != self.resources.clusters;
        let union = union_clusters(&self.resources.clusters, &new.clusters);
        if clusters_changed {
            update(&admin, &dir.clusters_file(), &union, CDS).await?;
            report.updated.push("clusters".into());
        }
        if new.router != self.resources.router {
            let stats = ecds_stats(ROUTER_FILTER);
            if let Err(e) = update(&admin, &dir.router_file(), &new.router, stats).await {
                // Put the good document back on disk too: a restarted Envoy, or anyone reading
                // the file, then sees what is actually serving.
                let _ = write_atomically(&dir.router_file(), &self.resources.router);
                self.restore_clusters(clusters_changed).await;
                return Err(self.with_reason(e));
            }
            report.updated.push(ROUTER_FILTER.into());
        }
        if let Some(audit) = &new.egress_audit
            && Some(audit) != self.resources.egress_audit.as_ref()
        {
            let stats = ecds_stats(EGRESS_AUDIT_FILTER);
            // A listener added in this update is the first user of the audit filter: its
            // subscription starts with the LDS update, so there is nothing to confirm yet.
            let confirm = self.resources.egress_audit.is_some();
            let result = if confirm {
                update(&admin, &dir.egress_audit_file(), audit, stats).await
            } else {
                write_atomically(&dir.egress_audit_file(), audit)
            };
            if let Err(e) = result {
                if let Some(good) = &self.resources.egress_audit {
                    let _ = write_atomically(&dir.egress_audit_file(), good);
                }
                self.restore_clusters(clusters_changed).await;
                return Err(self.with_reason(e));
            }
            report.updated.push(EGRESS_AUDIT_FILTER.into());
        }
        if new.listeners != self.resources.listeners {
            update(&admin, &dir.listeners_file(), &new.listeners, LDS)
                .await
                .map_err(|e| self.with_reason(e))?;
            report.updated.push("listeners".into());
        }
        if clusters_changed && union != new.clusters {
            update(&admin, &dir.clusters_file(), &new.clusters, CDS).await?;
        }
        report.elapsed = start.elapsed();
        self.resources = new;
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

    /// Puts the last good clusters back after a failed update (best effort: Envoy still has
    /// them, the union only added clusters).
    async fn restore_clusters(&self, changed: bool) {
        if changed {
            let admin = self.envoy.admin().clone();
            let file = self.render.config_dir.clusters_file();
            let _ = update(&admin, &file, &self.resources.clusters, CDS).await;
        }
    }

    /// Waits until every listener of the plan is active (ECDS-fed listeners warm until the
    /// filter config has loaded) and the router filter accepted its first config.
    async fn wait_listeners_active(&self) -> Result<()> {
        let admin = self.envoy.admin();
        let want = self.current.plan.listeners.len() as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        let rejected_stat = format!("{}.update_rejected", ecds_stats(ROUTER_FILTER).prefix());
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

// === Confirmed updates ===

/// One xDS subscription, named by its stats.
#[derive(Clone, Copy, Debug)]
enum Sub {
    Cds,
    Lds,
    Ecds(&'static str),
}

const CDS: Sub = Sub::Cds;
const LDS: Sub = Sub::Lds;

impl Sub {
    fn prefix(self) -> String {
        match self {
            Sub::Cds => "cluster_manager.cds".into(),
            Sub::Lds => "listener_manager.lds".into(),
            Sub::Ecds(f) => format!("extension_config_discovery.http_filter.{f}"),
        }
    }
    fn name(self) -> String {
        match self {
            Sub::Cds => "clusters".into(),
            Sub::Lds => "listeners".into(),
            Sub::Ecds(f) => f.into(),
        }
    }
}

fn ecds_stats(filter: &'static str) -> Sub {
    Sub::Ecds(filter)
}

/// Writes `doc` atomically and waits until Envoy counts it as accepted or rejected.
async fn update(admin: &Admin, file: &Path, doc: &Value, sub: Sub) -> Result<()> {
    let success = format!("{}.update_success", sub.prefix());
    let rejected = format!("{}.update_rejected", sub.prefix());
    let (s0, r0) = (
        admin.counter(&success).await?,
        admin.counter(&rejected).await?,
    );
    write_atomically(file, doc)?;
    let deadline = Instant::now() + CONFIRM_TIMEOUT;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if admin.counter(&rejected).await? > r0 {
            return Err(Error::Rejected {
                resource: sub.name(),
                detail: "update_rejected".into(),
            });
        }
        if admin.counter(&success).await? > s0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Rejected {
                resource: sub.name(),
                detail: format!("no confirmation within {CONFIRM_TIMEOUT:?}"),
            });
        }
    }
}

/// The new CDS document plus the old clusters it drops, so that requests routed by the old
/// filter config still find their cluster until the new filter config is in place.
fn union_clusters(old: &Value, new: &Value) -> Value {
    let mut doc = new.clone();
    let names: Vec<Value> = resources(new).iter().map(|c| c["name"].clone()).collect();
    let kept: Vec<Value> = resources(old)
        .iter()
        .filter(|c| !names.contains(&c["name"]))
        .cloned()
        .collect();
    if let Some(list) = doc["resources"].as_array_mut() {
        list.extend(kept);
    }
    doc
}

fn resources(doc: &Value) -> &[Value] {
    doc["resources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// During an update the old clusters stay until the filter stops routing to them.
    #[test]
    fn union_keeps_dropped_clusters_and_takes_new_definitions() {
        let old = json!({ "resources": [{ "name": "a", "v": 1 }, { "name": "b", "v": 1 }] });
        let new = json!({ "version_info": "2", "resources": [{ "name": "b", "v": 2 }, { "name": "c", "v": 2 }] });
        let union = union_clusters(&old, &new);
        assert_eq!(
            union,
            json!({ "version_info": "2", "resources": [
                { "name": "b", "v": 2 }, { "name": "c", "v": 2 }, { "name": "a", "v": 1 }
            ]})
        );
        assert_eq!(union_clusters(&new, &new), new);
    }
}
