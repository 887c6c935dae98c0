//! Scenario tests of `compile`, one module per area, each test citing its Istio rule.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "test helpers: a broken expectation should stop the test"
)]

mod actions;
mod binding;
mod clusters;
mod delegate;
mod determinism;
mod gateways;
mod https_tables;
mod locations;
mod routes;
mod tcp;
mod tls_egress;
mod upstream_tls;

use crate::compile::{CompileOptions, CompileOutput, GatewayIdentity, compile};
use crate::diagnostics::{Diagnostic, Severity};
use crate::load::load_str;
use portcullis_core::wire::{Action, Route, VirtualHost};

/// Compiles YAML for the default ingress gateway (`istio=ingressgateway`, `istio-system`).
pub(super) fn compile_yaml(yaml: &str) -> CompileOutput {
    compile_for(yaml, &GatewayIdentity::default())
}

/// Compiles YAML for `identity`; loader diagnostics must be empty.
pub(super) fn compile_for(yaml: &str, identity: &GatewayIdentity) -> CompileOutput {
    let loaded = load_str(yaml, Some("test.yaml"));
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:#?}",
        loaded.diagnostics
    );
    compile(&loaded.resources, identity, &CompileOptions::default())
}

/// The vhost for `domain` on `port`: in the plain-text table, else in the first HTTPS server's
/// table that has it.
pub(super) fn vhost<'o>(out: &'o CompileOutput, port: u16, domain: &str) -> &'o VirtualHost {
    out.wire
        .listeners
        .iter()
        .find(|l| l.port == port)
        .and_then(|l| {
            l.virtual_hosts
                .iter()
                .chain(l.servers.iter().flat_map(|s| &s.virtual_hosts))
                .find(|v| v.domains == [domain])
        })
        .unwrap_or_else(|| panic!("no vhost {domain} on {port}: {:#?}", out.wire.listeners))
}

/// The route table of the HTTPS server `server` (`ns/gateway/portName`) on `port` (G-11).
pub(super) fn server_table<'o>(
    out: &'o CompileOutput,
    port: u16,
    server: &str,
) -> &'o [VirtualHost] {
    out.wire
        .listeners
        .iter()
        .find(|l| l.port == port)
        .and_then(|l| l.servers.iter().find(|s| s.name == server))
        .map(|s| s.virtual_hosts.as_slice())
        .unwrap_or_else(|| panic!("no server {server} on {port}: {:#?}", out.wire.listeners))
}

/// Route names of a vhost.
pub(super) fn route_names(vh: &VirtualHost) -> Vec<&str> {
    vh.routes.iter().map(|r| r.name.as_str()).collect()
}

/// Diagnostics citing `rule`.
pub(super) fn with_rule<'o>(out: &'o CompileOutput, rule: &str) -> Vec<&'o Diagnostic> {
    out.diagnostics
        .iter()
        .filter(|d| d.rule == Some(rule))
        .collect()
}

/// Destination clusters and weights of a forwarding route.
pub(super) fn destinations(route: &Route) -> Vec<(&str, u32)> {
    match &route.action {
        Action::Route(f) => f
            .destinations
            .iter()
            .map(|d| (d.cluster.as_str(), d.weight))
            .collect(),
        other => panic!("not a forwarding route: {other:?}"),
    }
}

/// A Gateway on port 80 for `hosts`, selecting the ingress gateway.
pub(super) fn gateway(ns: &str, name: &str, hosts: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: {hosts}
---
"
    )
}
