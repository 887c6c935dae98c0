//! The Envoy routing model: `cluster_header`, route-cache clears, NC.
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use portcullis_wasm_tests::{ClearReason, ReplySource};
use serde_json::json;

use crate::support::*;

const HDR: &str = "x-portcullis-cluster";

fn routed(config: serde_json::Value) -> portcullis_wasm_tests::Host {
    probe_builder(config)
        .clusters(["backend-a", "backend-b"])
        .route_cluster_header(HDR)
        .build()
        .unwrap()
}

#[test]
fn filter_set_cluster_header_picks_the_upstream_and_auto_clears_the_route_cache__envoy_pr_14318() {
    let mut host = routed(json!({"on_request_headers": [
        {"op": "replace_header", "map": REQ_H, "key": HDR, "value": "backend-b"}
    ]}));
    let s = host
        .http_request()
        .get("a", "/")
        .header(HDR, "backend-a")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster().as_deref(), Some("backend-b"));
    assert!(s.local_response().is_none());
    let clears = s.route_cache_clears();
    assert_eq!(clears.len(), 1);
    assert_eq!(clears[0].reason, ClearReason::HeaderMutation);
}

#[test]
fn without_mutation_the_cached_route_uses_the_client_header() {
    let mut host = routed(json!({}));
    let s = host
        .http_request()
        .get("a", "/")
        .header(HDR, "backend-a")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster().as_deref(), Some("backend-a"));
    assert!(s.route_cache_clears().is_empty());
}

#[test]
fn unknown_cluster_is_503_with_flag_nc__envoy_cluster_not_found() {
    let mut host = routed(json!({"on_request_headers": [
        {"op": "replace_header", "map": REQ_H, "key": HDR, "value": "ghost"}
    ]}));
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!((r.status, r.source), (503, ReplySource::Router));
    assert_eq!(r.flags, vec!["NC"]);
    assert_eq!(s.upstream_cluster().as_deref(), Some("ghost"));
    assert_eq!(
        results_of(&host, "on_response_headers", "callback").len(),
        1,
        "router replies pass the filter's encoder side"
    );
}

#[test]
fn missing_cluster_header_is_503_nc() {
    let mut host = routed(json!({}));
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.local_response().map(|r| r.flags),
        Some(vec!["NC".to_string()])
    );
}

#[test]
fn clear_route_cache_foreign_function_is_tracked_separately__envoy_pr_36671() {
    let mut host =
        routed(json!({"on_request_headers": [{"op": "ffi", "name": "clear_route_cache"}]}));
    let s = host
        .http_request()
        .get("a", "/")
        .header(HDR, "backend-a")
        .send_headers_only()
        .unwrap();
    let clears = s.route_cache_clears();
    assert_eq!(clears.len(), 1);
    assert_eq!(clears[0].reason, ClearReason::ForeignFunction);
    assert_eq!(status(&host, "on_request_headers", "ffi"), 0);
}

#[test]
fn response_header_writes_do_not_clear_the_route_cache__envoy_on_headers_modified() {
    let mut host = routed(
        json!({"on_response_headers": [{"op": "add_header", "map": RESP_H, "key": "x", "value": "1"}]}),
    );
    let mut s = host
        .http_request()
        .get("a", "/")
        .header(HDR, "backend-a")
        .send_headers_only()
        .unwrap();
    s.respond_headers(200, &[], true);
    assert!(s.route_cache_clears().is_empty());
}

#[test]
fn set_envoy_filter_state_stores_the_value__envoy_tcp_routing_example() {
    // SetEnvoyFilterStateArguments{path: "envoy.tcp_proxy.cluster", value: "backend-a"}.
    let mut args = vec![0x0a, 23];
    args.extend(b"envoy.tcp_proxy.cluster");
    args.extend([0x12, 9]);
    args.extend(b"backend-a");
    let hex: String = args.iter().map(|b| format!("{b:02x}")).collect();
    let host = probe_host(
        json!({"on_configure": [{"op": "ffi", "name": "set_envoy_filter_state", "args_hex": hex}]}),
    );
    assert_eq!(status(&host, "on_configure", "ffi"), 0);
    assert_eq!(
        host.filter_state("envoy.tcp_proxy.cluster").as_deref(),
        Some(&b"backend-a"[..])
    );
}

#[test]
fn unknown_foreign_function_is_not_found__envoy_foreign_functions() {
    let host = probe_host(json!({"on_configure": [{"op": "ffi", "name": "no_such_function"}]}));
    assert_eq!(status(&host, "on_configure", "ffi"), NOT_FOUND);
    assert_eq!(host.foreign_calls()[0].name, "no_such_function");
}

#[test]
fn routed_stream_reports_xds_cluster_name_in_on_log__envoy_xds_attributes() {
    let mut host =
        routed(json!({"on_log": [{"op": "get_property", "path": ["xds", "cluster_name"]}]}));
    let s = host
        .http_request()
        .get("a", "/")
        .header(HDR, "backend-a")
        .send_headers_only()
        .unwrap();
    s.finish();
    assert_eq!(
        result(&host, "on_log", "get_property")["value"]["text"],
        "backend-a"
    );
}

fn vhosts() -> portcullis_wasm_tests::HostBuilder {
    use portcullis_wasm_tests::{Route, VirtualHost};
    probe_builder(json!({}))
        .clusters(["a", "canary", "api"])
        .virtual_host(
            VirtualHost::new("a", ["a.example.com"])
                .route(Route::prefix_to_cluster("a-all", "/", "a")),
        )
        .virtual_host(
            VirtualHost::new("canary", ["*-canary.example.com"]).route(Route::prefix_to_cluster(
                "canary-all",
                "/",
                "canary",
            )),
        )
        .virtual_host(
            VirtualHost::new("api", ["api.example.com"])
                .route(Route::prefix_to_cluster_header("api-v1", "/v1", HDR))
                .route(Route::prefix_to_cluster("api-rest", "/", "api")),
        )
}

#[test]
fn no_matching_virtual_host_is_404_with_flag_nr__envoy_route_not_found() {
    let mut host = vhosts().build().unwrap();
    let s = host
        .http_request()
        .get("unknown.example.org", "/")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!((r.status, r.flags.clone()), (404, vec!["NR".to_string()]));
}

#[test]
fn authority_with_port_misses_the_exact_domain_unless_ports_are_stripped__envoy_faq_route_not_found()
 {
    let mut host = vhosts().build().unwrap();
    let s = host
        .http_request()
        .get("a.example.com:443", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(404));
    let mut host = vhosts().strip_any_host_port(true).build().unwrap();
    let s = host
        .http_request()
        .get("A.example.com:443", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster().as_deref(), Some("a"));
    assert_eq!(s.record().route.virtual_host.as_deref(), Some("a"));
}

#[test]
fn routes_match_first_in_order_and_route_name_is_a_property__envoy_route_matching() {
    let mut host = vhosts()
        .plugin_config(
            json!({"on_log": [{"op": "get_property", "path": ["route_name"]}]}).to_string(),
        )
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("api.example.com", "/v1/x")
        .header(HDR, "api")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.record().route.route.as_deref(), Some("api-v1"));
    s.finish();
    let s = host
        .http_request()
        .get("api.example.com", "/v2")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.record().route.route.as_deref(), Some("api-rest"));
    s.finish();
    let names: Vec<_> = results_of(&host, "on_log", "get_property")
        .iter()
        .map(|r| r["value"]["text"].clone())
        .collect();
    assert_eq!(names, vec![json!("api-v1"), json!("api-rest")]);
}

#[test]
fn rewriting_authority_reroutes_to_another_virtual_host_via_the_auto_clear__go_sdk_http_routing_example()
 {
    let mut host = vhosts()
        .plugin_config(json!({"on_request_headers": [
            {"op": "replace_header", "map": REQ_H, "key": ":authority", "value": "a-canary.example.com"}
        ]}).to_string())
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("a.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.record().cached_route.virtual_host.as_deref(), Some("a"));
    assert_eq!(s.upstream_cluster().as_deref(), Some("canary"));
}
