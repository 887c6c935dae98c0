//! Smoke tests of the project's filters on this host: they load with exactly Envoy's import
//! set and behave on a minimal configuration. Full suites for each filter live beside them.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use std::sync::Arc;

use portcullis_core::contract::{
    CLUSTER_HEADER, EGRESS_AUDIT_MODULE, HOST_FILTER_MODULE, ROUTER_MODULE,
};
use portcullis_wasm_tests::{Host, WasmModule, artifacts};
use serde_json::{Value, json};

const FILTERS: [&str; 3] = [
    "portcullis-host-filter",
    "portcullis-router",
    "portcullis-egress-audit",
];

fn module(package: &str) -> Arc<WasmModule> {
    WasmModule::package(package).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A wire config (the operator -> filter contract): one listener on port 80.
fn wire(hosts: &[&str]) -> Value {
    json!({
        "version": 1,
        "configVersion": "sha256:test",
        "listeners": [{
            "port": 80,
            "servers": [{"name": "ns/gw/http", "hosts": hosts}],
            "virtualHosts": []
        }]
    })
}

/// The filters' module files are the contract's names, and with `PORTCULLIS_WASM_DIR` set (as
/// `cargo xtask test` sets it after building them) the suites load those prebuilt modules
/// instead of building their own.
#[test]
fn filters_are_the_prebuilt_modules_when_given() {
    let files: Vec<String> = FILTERS.iter().map(|p| artifacts::module_file(p)).collect();
    assert_eq!(
        files,
        [HOST_FILTER_MODULE, ROUTER_MODULE, EGRESS_AUDIT_MODULE]
    );
    for package in FILTERS {
        let path = artifacts::build_wasm(package).unwrap();
        match artifacts::prebuilt(package) {
            Some(prebuilt) => assert_eq!(path, prebuilt),
            None => assert!(
                path.starts_with(artifacts::artifact_target_dir()),
                "{path:?}"
            ),
        }
    }
}

#[test]
fn every_filter_imports_only_what_envoy_provides_and_rejects_an_empty_config() {
    for package in FILTERS {
        let m = module(package);
        let imports = m.imports();
        assert!(
            imports
                .iter()
                .all(|i| i.starts_with("env.proxy_") || i.starts_with("wasi_snapshot_preview1.")),
            "{package}: {imports:?}"
        );
        let err = Host::builder(&m).build().unwrap_err();
        assert!(
            format!("{err:#}").contains("returned false"),
            "{package}: {err:#}"
        );
    }
}

#[test]
fn host_filter_admits_listed_hosts_and_refuses_others_with_404() {
    let m = module("portcullis-host-filter");
    let mut host = Host::builder(&m)
        .plugin_config(wire(&["a.example.com"]).to_string())
        .property("destination.port", 80i64)
        .build()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let s = host
        .http_request()
        .get("a.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert!(s.local_response().is_none(), "{}", s.host_report());
    let s = host
        .http_request()
        .get("b.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(404));
    let metrics = host.metrics();
    assert_eq!(metrics.counter("portcullis.host_filter.allowed"), Some(1));
    assert_eq!(metrics.counter("portcullis.host_filter.refused"), Some(1));
    println!(
        "host filter fuel per request: {:?}",
        host.callback_costs(0)
            .iter()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
    );
}

#[test]
fn router_sets_the_cluster_header_and_envoy_routes_on_it_even_against_a_spoofed_header() {
    use portcullis_wasm_tests::ClearReason;
    let reviews = "outbound|9080||reviews.default.svc.cluster.local";
    let config = json!({
        "version": 1,
        "configVersion": "sha256:test",
        "listeners": [{
            "port": 80,
            "servers": [{"name": "ns/gw/http", "hosts": ["*"]}],
            "virtualHosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{
                    "name": "r",
                    "virtualService": "ns/vs",
                    "match": {},
                    "action": {"route": {"destinations": [{"cluster": reviews, "weight": 100}]}}
                }]
            }]
        }]
    });
    let m = module("portcullis-router");
    let mut host = Host::builder(&m)
        .plugin_config(config.to_string())
        .property("destination.port", 80i64)
        .clusters([reviews, "outbound|443||admin.internal"])
        .route_cluster_header(CLUSTER_HEADER)
        .build()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let s = host
        .http_request()
        .get("bookinfo.example.com", "/reviews/1")
        .header(CLUSTER_HEADER, "outbound|443||admin.internal")
        .send_headers_only()
        .unwrap();
    assert!(s.local_response().is_none(), "{}", s.host_report());
    assert_eq!(s.upstream_cluster().as_deref(), Some(reviews));
    assert_eq!(
        s.record().cached_route.cluster.as_deref(),
        Some("outbound|443||admin.internal"),
        "the HCM cached the client's choice"
    );
    let reasons: Vec<ClearReason> = s.route_cache_clears().iter().map(|c| c.reason).collect();
    assert!(
        reasons.contains(&ClearReason::HeaderMutation),
        "{reasons:?}"
    );
    println!("router fuel for one request: {}", s.fuel());
}
