//! Fixtures for the filter suites: the three filters' modules, wire configs and hosts set up
//! the way the operator deploys them (destination port property, cluster-header route).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use std::sync::Arc;

pub use portcullis_core::contract::{
    CLUSTER_HEADER, EGRESS_AUDIT_ROOT_ID, EGRESS_AUDIT_TCP_ROOT_ID, HOST_FILTER_ROOT_ID,
    ROUTER_ROOT_ID,
};
use portcullis_wasm_tests::{Host, HostBuilder, WasmModule};
use serde_json::{Value, json};

/// A built filter, compiled once per test binary.
pub fn module(package: &str) -> Arc<WasmModule> {
    WasmModule::package(package).unwrap_or_else(|e| panic!("{e:#}"))
}

/// An Istio-style cluster name for `host`.
pub fn cluster(host: &str) -> String {
    format!("outbound|80||{host}")
}

/// A route JSON: `name`, `match`, `action` plus any extra fields in `extra`.
pub fn route(name: &str, matcher: Value, action: Value, extra: Value) -> Value {
    let mut r =
        json!({"name": name, "virtualService": "ns/vs", "match": matcher, "action": action});
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            r.insert(k.clone(), v.clone());
        }
    }
    r
}

/// A forward action to one cluster.
pub fn to(cluster: &str) -> Value {
    json!({"route": {"destinations": [{"cluster": cluster, "weight": 100}]}})
}

/// A one-listener wire config on port 80: `hosts` served, one vhost `*` with `routes`.
pub fn wire(hosts: &[&str], routes: Vec<Value>) -> Value {
    json!({
        "version": 1,
        "configVersion": "sha256:0123456789abcdef0123",
        "listeners": [{
            "port": 80,
            "servers": [{"name": "ns/gw/http", "hosts": hosts}],
            "virtualHosts": [{"name": "all", "domains": ["*"], "routes": routes}]
        }]
    })
}

/// Every `"cluster": "..."` value in a wire config (destinations, mirrors, collector).
pub fn clusters_of(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(config, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("cluster", Value::String(s)) => out.push(s.clone()),
                    _ => collect(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// A router host builder for `config`, on destination port 80, knowing its clusters.
pub fn router_builder(config: &Value) -> HostBuilder {
    Host::builder(&module("portcullis-router"))
        .plugin_config(config.to_string())
        .root_id(ROUTER_ROOT_ID)
        .property("destination.port", 80i64)
        .clusters(clusters_of(config))
        .route_cluster_header(CLUSTER_HEADER)
}

/// A one-worker router host for `config`.
pub fn router(config: &Value) -> Host {
    router_builder(config)
        .build()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// A host-filter host for `config` on destination port 80.
pub fn host_filter(config: &Value) -> Host {
    Host::builder(&module("portcullis-host-filter"))
        .plugin_config(config.to_string())
        .root_id(HOST_FILTER_ROOT_ID)
        .property("destination.port", 80i64)
        .build()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// An egress wire config: listener 443 and `egress` as given.
pub fn egress_wire(egress: Value) -> Value {
    json!({
        "version": 1,
        "configVersion": "sha256:egress0000000000",
        "listeners": [{"port": 443, "servers": [{"name": "istio-system/egress/tls", "hosts": ["*"]}]}],
        "egress": egress
    })
}

/// An egress host builder (`root_id` [`EGRESS_AUDIT_ROOT_ID`] or [`EGRESS_AUDIT_TCP_ROOT_ID`])
/// on port 443.
pub fn egress_builder(config: &Value, root_id: &str) -> HostBuilder {
    Host::builder(&module("portcullis-egress-audit"))
        .plugin_config(config.to_string())
        .root_id(root_id)
        .vm_id("egress")
        .property("destination.port", 443i64)
        .clusters(clusters_of(config))
}

/// A plain-text GET (`:scheme http`), which the stock `get` does not build.
pub fn plain_get<'h>(
    host: &'h mut Host,
    authority: &str,
    path: &str,
) -> portcullis_wasm_tests::HttpRequest<'h> {
    host.http_request()
        .header(":method", "GET")
        .header(":scheme", "http")
        .header(":path", path)
        .header(":authority", authority)
        .header("x-forwarded-proto", "http")
}

/// Status of the local response, or 0 when the request went upstream.
pub fn status_of(s: &portcullis_wasm_tests::HttpStream<'_>) -> u32 {
    s.local_response().map_or(0, |r| r.status)
}
