//! Pure rendering: plan + wire config + options → Envoy JSON documents. No I/O here.

mod bootstrap;
mod clusters;
mod listeners;
mod wasm;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use portcullis_core::wire::WireConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{ConfigDir, Error, Result};
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};

pub use bootstrap::render_bootstrap;

/// The request header the router filter writes and Envoy's route reads the cluster from.
pub const CLUSTER_HEADER: &str = "x-portcullis-cluster";
/// ECDS resource name (and HTTP filter name) of the router filter.
pub const ROUTER_FILTER: &str = "portcullis.router";
/// ECDS resource name (and HTTP filter name) of the egress-audit filter.
pub const EGRESS_AUDIT_FILTER: &str = "portcullis.egress_audit";

/// Paths of the compiled filter modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmModules {
    /// `portcullis_router.wasm`.
    pub router: PathBuf,
    /// `portcullis_egress_audit.wasm`; required only when the plan has egress listeners.
    pub egress_audit: Option<PathBuf>,
}

/// Everything rendering needs besides the plan and the wire config.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Envoy `node.id` (ECDS requires one).
    pub node_id: String,
    /// Where the xDS files live.
    pub config_dir: ConfigDir,
    /// Admin listener port on 127.0.0.1.
    pub admin_port: u16,
    /// Address the listeners bind (127.0.0.1 for a local gateway).
    pub bind_address: String,
    /// The filter modules.
    pub wasm: WasmModules,
    /// Access log file; none disables access logging.
    pub access_log: Option<PathBuf>,
}

/// The dynamic resources: one DiscoveryResponse document per file.
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    /// LDS document.
    pub listeners: Value,
    /// CDS document.
    pub clusters: Value,
    /// ECDS document of the router filter.
    pub router: Value,
    /// ECDS document of the egress-audit filter, when any listener is an egress listener.
    pub egress_audit: Option<Value>,
}

/// Renders the listeners, clusters and filter configs of `plan`, embedding `wire` as the
/// filters' plugin configuration.
pub fn render_resources(
    plan: &EnvoyPlan,
    wire: &WireConfig,
    opts: &RenderOptions,
) -> Result<Resources> {
    check_bind_ports(plan, wire)?;
    let wire_json = wire.to_json();
    let has_egress = plan
        .listeners
        .iter()
        .any(|l| l.kind == ListenerKind::Egress);
    let audit_module = match (has_egress, &opts.wasm.egress_audit) {
        (false, _) => None,
        (true, Some(path)) => Some(path.clone()),
        (true, None) => {
            let listener = plan
                .listeners
                .iter()
                .find(|l| l.kind == ListenerKind::Egress)
                .map(|l| l.name.clone())
                .unwrap_or_default();
            return Err(Error::MissingEgressModule { listener });
        }
    };

    let listeners: Vec<Value> = plan
        .listeners
        .iter()
        .map(|l| listeners::listener(l, &wire_json, audit_module.as_deref(), opts))
        .collect();
    let mut clusters: Vec<Value> = plan.clusters.iter().map(clusters::cluster).collect();
    if plan.listeners.iter().any(listeners::needs_blackhole) {
        clusters.push(clusters::blackhole());
    }

    let router = wasm::ecds_response(
        &wire.config_version,
        ROUTER_FILTER,
        wasm::http_filter_config(ROUTER_FILTER, "router", &opts.wasm.router, &wire_json),
    );
    let egress_audit = audit_module.map(|path| {
        wasm::ecds_response(
            &wire.config_version,
            EGRESS_AUDIT_FILTER,
            wasm::http_filter_config(EGRESS_AUDIT_FILTER, "egress_audit", &path, &wire_json),
        )
    });
    Ok(Resources {
        listeners: discovery_response(listeners),
        clusters: discovery_response(clusters),
        router,
        egress_audit,
    })
}

/// The router selects its listener by the connection's destination port, so every port Envoy
/// binds must be a bind port of the wire config; otherwise every request there would be a 404.
fn check_bind_ports(plan: &EnvoyPlan, wire: &WireConfig) -> Result<()> {
    for l in &plan.listeners {
        let http = l.passthrough.is_empty() || !l.tls_chains.is_empty();
        if http
            && !wire
                .listeners
                .iter()
                .any(|w| w.effective_bind_port() == l.bind_port)
        {
            return Err(Error::BindPortMismatch {
                listener: l.name.clone(),
                port: l.bind_port,
            });
        }
    }
    Ok(())
}

/// A DiscoveryResponse whose version is a digest of its resources, so an unchanged document
/// keeps its version (Envoy logs the version; equal versions make diffs obvious).
fn discovery_response(resources: Vec<Value>) -> Value {
    let body = Value::Array(resources);
    let digest = Sha256::digest(body.to_string().as_bytes());
    let version = hex::encode(&digest[..6]);
    json!({ "version_info": version, "resources": body })
}
