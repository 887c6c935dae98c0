//! The pure compiler: Istio resources → filter wire config + Envoy plan + diagnostics.
//!
//! `compile` does no I/O and depends on nothing but its arguments: the same resources, in any
//! order, give byte-identical output and the same content hash. Each step lives in its own
//! module and cites the rule of `docs/semantics.md` it implements.

mod actions;
mod bind;
mod clusters;
mod context;
mod delegate;
mod duration;
mod egress;
mod hash;
mod hosts;
mod matches;
mod passthrough;
mod routes;
mod servers;
mod tcp;
mod tls;
mod validate;
mod vhosts;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use portcullis_core::wire::{PortBinding, WIRE_VERSION, WireConfig};
use serde::Serialize;

use crate::diagnostics::{Diagnostic, Effect};
use crate::istio::Resources;
use crate::plan::{EnvoyPlan, ListenerKind};

use validate::validate_with_core;

/// The gateway workload being compiled for: its pod labels and namespace (G-1, V-4, V-16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayIdentity {
    /// Pod labels; Gateways whose selector is a subset of them apply.
    pub labels: BTreeMap<String, String>,
    /// Pod namespace: `exportTo` visibility and `credentialName` Secrets are resolved here.
    pub namespace: String,
}

impl Default for GatewayIdentity {
    /// Istio's default ingress gateway: `istio=ingressgateway` in `istio-system`.
    fn default() -> Self {
        GatewayIdentity {
            labels: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
            namespace: "istio-system".to_string(),
        }
    }
}

impl GatewayIdentity {
    /// The workload is an egress gateway iff its labels carry `istio=egressgateway` (Istio's
    /// own convention for the egress gateway deployment). Its listeners then run the
    /// egress-audit filter and the wire config gets an `egress` section.
    pub fn is_egress(&self) -> bool {
        self.labels
            .get("istio")
            .is_some_and(|v| v == "egressgateway")
    }
}

/// Compiler options that are not Istio resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Added to every Gateway port to get the port Envoy binds (local mode runs unprivileged,
    /// so port 80 becomes e.g. 10080). `match.port` and redirects keep the Gateway port (G-13).
    pub port_offset: u16,
    /// Egress audit settings that take precedence over the Gateway annotations of the same
    /// names (`portcullis.dev/audit-sink`, `-failure-mode`, `-include-query`,
    /// `-include-headers`, `-redact-headers`): what a `GatewayFilter` sets for its workload.
    pub audit: BTreeMap<String, String>,
    /// The gateway runs on this machine (`portcullis up`), so the files Gateway servers name
    /// (`serverCertificate`, `privateKey`, `caCertificates`) must be readable here. A server
    /// whose file is not is dropped with an error naming it, where Envoy would refuse the
    /// whole listener. Off for a gateway elsewhere: its files are on its own disk.
    pub local_files: bool,
}

/// Everything `compile` produces.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompileOutput {
    /// The filters' configuration; `config_version` is `content_hash`.
    pub wire: WireConfig,
    /// What Envoy must run.
    pub envoy: EnvoyPlan,
    /// Findings, sorted by severity, resource and field.
    pub diagnostics: Vec<Diagnostic>,
    /// `sha256:<hex>` over the canonical JSON of wire and plan (and the TLS keys, which the
    /// JSON omits).
    pub content_hash: String,
}

/// Compiles `resources` for the gateway workload `gateway`.
pub fn compile(
    resources: &Resources,
    gateway: &GatewayIdentity,
    options: &CompileOptions,
) -> CompileOutput {
    // V-25: delegates are merged into their roots before anything reads the VirtualServices.
    let merged = delegate::merge(resources);
    let resources = merged.as_ref().map_or(resources, |m| &m.resources);
    let mut ctx = context::Ctx::new(resources, gateway);
    ctx.local_files = options.local_files;
    if let Some(m) = &merged {
        ctx.delegation = Some(&m.delegation);
        ctx.diagnostics.extend(m.diagnostics.iter().cloned());
    }
    let ports = servers::merge(&mut ctx);
    let kind = if gateway.is_egress() {
        ListenerKind::Egress
    } else {
        ListenerKind::Ingress
    };

    let mut listeners = Vec::new();
    let mut plan_listeners = Vec::new();
    let mut passthrough_ports = Vec::new();
    for group in &ports {
        let Some(bind_port) = group.port.checked_add(options.port_offset) else {
            ctx.push(
                Diagnostic::error(
                    "Gateway servers",
                    format!(
                        "port {} plus offset {} exceeds 65535; port dropped",
                        group.port, options.port_offset
                    ),
                )
                .effect(Effect::DropsPiece)
                .rule("G-13"),
            );
            continue;
        };
        if let Some(listener) = vhosts::build_listener(&mut ctx, group, bind_port) {
            listeners.push(listener);
        } else if group
            .servers
            .iter()
            .any(|s| s.mode == servers::ServerMode::Passthrough)
        {
            passthrough_ports.push(PortBinding {
                port: group.port,
                bind_port: (bind_port != group.port).then_some(bind_port),
            });
        }
        plan_listeners.extend(tls::plan_listener(&mut ctx, group, bind_port, kind));
    }
    bind::report_unused_virtual_services(&mut ctx, &ports);

    let egress = gateway
        .is_egress()
        .then(|| egress::build(&mut ctx, &ports, passthrough_ports, &options.audit));
    let clusters = clusters::build(&mut ctx);
    let mut wire = WireConfig {
        version: WIRE_VERSION,
        config_version: String::new(),
        listeners,
        egress,
    };
    let envoy = EnvoyPlan {
        listeners: plan_listeners,
        clusters,
    };
    let content_hash = hash::content_hash(&wire, &envoy);
    wire.config_version = content_hash.clone();
    let mut diagnostics = ctx.diagnostics;
    // The filters compile the wire config again in `on_configure`; anything their core refuses
    // would be refused by every gateway, so it is an error here, where the user looks.
    if let Err(error) = validate_with_core(&wire) {
        diagnostics.push(
            Diagnostic::error(
                "compiled configuration",
                format!("the filters would reject this configuration: {error}"),
            )
            .effect(Effect::KeepsLastGood),
        );
    }
    diagnostics.sort();
    diagnostics.dedup();
    CompileOutput {
        wire,
        envoy,
        diagnostics,
        content_hash,
    }
}
