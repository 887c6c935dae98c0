//! Pure rendering: plan + wire config + options → typed Envoy resources. No I/O here.

mod bootstrap;
mod clusters;
mod listeners;
mod secrets;
mod wasm;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use portcullis_core::wire::WireConfig;

use crate::api::{ConfigSource, TypedExtensionConfig};
use crate::delivery::{ConfigDelivery, TlsDelivery, WasmModules};
use crate::snapshot::Snapshot;
use crate::{Error, Result};

pub use bootstrap::{BootstrapOptions, XDS_CLUSTER, render_bootstrap};
pub use clusters::SYSTEM_CA_BUNDLE;

// The names the filters and the rendered configuration agree on live in the core's contract.
pub use portcullis_core::contract::{
    CLUSTER_HEADER, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER, ROUTER_FILTER,
};
use portcullis_core::contract::{
    EGRESS_AUDIT_ROOT_ID, MESH_DEFAULT_RETRY_ATTEMPTS, MESH_DEFAULT_RETRY_ON, OWN_RETRIES_HEADER,
    ROUTER_ROOT_ID,
};

/// Everything rendering needs besides the plan and the wire config.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// How the dynamic resources reach Envoy.
    pub delivery: ConfigDelivery,
    /// Address the listeners bind (127.0.0.1 for a local gateway).
    pub bind_address: String,
    /// The filter modules.
    pub wasm: WasmModules,
    /// How TLS material reaches Envoy.
    pub tls: TlsDelivery,
    /// What Envoy does after a filter's VM traps (`FAIL_RELOAD` unless a GatewayFilter says
    /// otherwise).
    pub failure_policy: crate::api::FailurePolicy,
    /// Access log file; none disables access logging.
    pub access_log: Option<PathBuf>,
}

/// One dynamic resource, for choosing its config source.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    Listeners,
    Clusters,
    FilterConfig(&'a str),
    Secret(&'a str),
}

impl RenderOptions {
    /// Where Envoy fetches `resource` from.
    pub(crate) fn source(&self, resource: Source<'_>) -> ConfigSource {
        source(&self.delivery, resource)
    }
}

/// Where Envoy fetches `resource` from, delivered by `delivery`.
pub(crate) fn source(delivery: &ConfigDelivery, resource: Source<'_>) -> ConfigSource {
    let dir = match delivery {
        ConfigDelivery::Ads(_) => return ConfigSource::ads(),
        ConfigDelivery::Files(dir) => dir,
    };
    let file = match resource {
        Source::Listeners => dir.listeners_file(),
        Source::Clusters => dir.clusters_file(),
        Source::FilterConfig(name) => dir.filter_config_file(name),
        Source::Secret(name) => dir.secret_file(name),
    };
    let watched = file.parent().unwrap_or(&file).display().to_string();
    ConfigSource::path(file.display().to_string(), watched)
}

/// Renders the listeners, clusters, filter configs and secrets of `plan`, embedding `wire` as
/// the filters' plugin configuration.
pub fn render(plan: &EnvoyPlan, wire: &WireConfig, opts: &RenderOptions) -> Result<Snapshot> {
    check_bind_ports(plan, wire)?;
    let wire_json = wire.to_json();
    let audit_code = match plan
        .listeners
        .iter()
        .find(|l| l.kind == ListenerKind::Egress)
    {
        None => None,
        Some(listener) => {
            Some(
                opts.wasm
                    .egress_audit
                    .as_ref()
                    .ok_or_else(|| Error::MissingEgressModule {
                        listener: listener.name.clone(),
                    })?,
            )
        }
    };

    let mut secrets = Vec::new();
    let listeners = plan
        .listeners
        .iter()
        .map(|l| listeners::listener(l, opts, &mut secrets))
        .collect();
    let mut clusters: Vec<_> = plan
        .clusters
        .iter()
        .map(|c| clusters::cluster(c, opts, &mut secrets))
        .collect();
    if plan.listeners.iter().any(listeners::needs_blackhole) {
        clusters.push(clusters::blackhole());
    }

    let mut filter_configs = vec![TypedExtensionConfig {
        name: ROUTER_FILTER.into(),
        typed_config: wasm::http_filter_config(
            opts.failure_policy,
            ROUTER_FILTER,
            ROUTER_ROOT_ID,
            wasm::ROUTER_VM,
            &opts.wasm.router,
            &wire_json,
        ),
    }];
    if let Some(code) = audit_code {
        filter_configs.push(TypedExtensionConfig {
            name: EGRESS_AUDIT_FILTER.into(),
            typed_config: wasm::http_filter_config(
                opts.failure_policy,
                EGRESS_AUDIT_FILTER,
                EGRESS_AUDIT_ROOT_ID,
                wasm::EGRESS_AUDIT_VM,
                code,
                &wire_json,
            ),
        });
    }
    if plan.listeners.iter().any(listeners::needs_blackhole)
        && let Some(code) = audit_code
    {
        filter_configs.push(TypedExtensionConfig {
            name: EGRESS_AUDIT_TCP_FILTER.into(),
            typed_config: wasm::network_filter_config(opts.failure_policy, code, &wire_json),
        });
    }
    Ok(Snapshot {
        version: wire.config_version.clone(),
        listeners,
        clusters,
        filter_configs,
        secrets,
    })
}

/// The router selects its listener by the connection's destination port, so every port Envoy
/// binds must be a bind port of the wire config; otherwise every request there would be a 404.
fn check_bind_ports(plan: &EnvoyPlan, wire: &WireConfig) -> Result<()> {
    for l in &plan.listeners {
        let http = l.tcp.is_none() && (l.passthrough.is_empty() || !l.tls_chains.is_empty());
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
