//! Properties: NUL-separated paths, Envoy value encodings (`context.cc serializeValue`).
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use serde_json::json;

use crate::support::*;

fn get(path: &[&str]) -> serde_json::Value {
    json!({"op": "get_property", "path": path})
}

#[test]
fn string_properties_are_raw_bytes__envoy_serialize_value() {
    let mut host = probe_host(json!({"on_request_headers": [get(&["source", "address"])]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let r = result(&host, "on_request_headers", "get_property");
    assert_eq!(r["status"], 0);
    assert_eq!(r["value"]["text"], "10.0.0.7:51234");
}

#[test]
fn int_properties_are_8_byte_little_endian__envoy_serialize_value() {
    let mut host = probe_host(json!({"on_request_headers": [get(&["destination", "port"])]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let r = result(&host, "on_request_headers", "get_property");
    assert_eq!(r["value"]["hex"], hex8(8443));
}

fn hex8(v: i64) -> String {
    v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn bool_properties_are_one_byte__envoy_serialize_value() {
    let mut host = probe_host(json!({"on_request_headers": [get(&["connection", "mtls"])]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        result(&host, "on_request_headers", "get_property")["value"]["hex"],
        "00"
    );
}

#[test]
fn missing_property_is_not_found__envoy_get_property() {
    let mut host = probe_host(json!({"on_request_headers": [get(&["no", "such", "thing"])]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        status(&host, "on_request_headers", "get_property"),
        NOT_FOUND
    );
}

#[test]
fn plugin_identity_properties_come_from_the_plugin_config__envoy_plugin_name_root_id_vm_id() {
    let host = probe_builder(json!({"on_configure": [
        get(&["plugin_name"]), get(&["plugin_root_id"]), get(&["plugin_vm_id"])
    ]}))
    .plugin_name("gw")
    .build()
    .unwrap();
    let r = results_of(&host, "on_configure", "get_property");
    assert_eq!(r[0]["value"]["text"], "gw");
    assert_eq!(r[1]["value"]["text"], "probe");
    assert_eq!(r[2]["value"]["text"], "probe-vm");
}

#[test]
fn request_properties_follow_the_request_headers__envoy_request_attributes() {
    let mut host = probe_host(json!({"on_request_headers": [
        get(&["request", "path"]), get(&["request", "host"]), get(&["request", "method"]),
        get(&["request", "url_path"]), get(&["request", "headers", "x-request-id"]), get(&["request", "id"])
    ]}));
    host.http_request()
        .get("A.example.com:443", "/p?q=1")
        .header("x-request-id", "rid-1")
        .send_headers_only()
        .unwrap();
    let r: Vec<_> = results_of(&host, "on_request_headers", "get_property")
        .into_iter()
        .map(|r| r["value"]["text"].clone())
        .collect();
    assert_eq!(
        r,
        vec![
            json!("/p?q=1"),
            json!("A.example.com:443"),
            json!("GET"),
            json!("/p"),
            json!("rid-1"),
            json!("rid-1")
        ]
    );
}

#[test]
fn response_code_and_total_sizes_are_ints_in_on_log__envoy_response_attributes() {
    let mut host = probe_host(json!({"on_log": [
        get(&["response", "code"]), get(&["request", "total_size"]), get(&["response", "total_size"])
    ]}));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"12345", true);
    s.respond_headers(404, &[], false);
    s.respond_body(b"nope", true);
    s.finish();
    let r = results_of(&host, "on_log", "get_property");
    assert_eq!(r[0]["value"]["hex"], hex8(404));
    let req_headers: i64 = [
        ":method",
        "GET",
        ":scheme",
        "https",
        ":path",
        "/",
        ":authority",
        "a",
    ]
    .iter()
    .map(|s| s.len() as i64)
    .sum();
    assert_eq!(r[1]["value"]["hex"], hex8(req_headers + 5));
    assert_eq!(r[2]["value"]["hex"], hex8(":status".len() as i64 + 3 + 4));
}

#[test]
fn set_property_is_readable_back_on_the_same_stream__envoy_set_property() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "set_property", "path": ["wasm", "decision"], "value": "allow"},
        get(&["wasm", "decision"])
    ]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let r = result(&host, "on_request_headers", "get_property");
    assert_eq!(r["value"]["text"], "allow");
}

#[test]
fn per_request_and_host_properties_override_the_preset() {
    let mut host = probe_builder(json!({"on_request_headers": [
        get(&["source", "address"]), get(&["connection", "requested_server_name"])
    ]}))
    .property("connection.requested_server_name", "sni.example.com")
    .build()
    .unwrap();
    host.http_request()
        .get("a", "/")
        .property("source.address", "192.0.2.1:1000")
        .send_headers_only()
        .unwrap();
    let r = results_of(&host, "on_request_headers", "get_property");
    assert_eq!(r[0]["value"]["text"], "192.0.2.1:1000");
    assert_eq!(r[1]["value"]["text"], "sni.example.com");
}

#[test]
fn gateway_preset_lists_the_istio_gateway_properties() {
    let paths = [
        "source.address",
        "source.port",
        "destination.address",
        "destination.port",
        "request.protocol",
        "connection.requested_server_name",
        "connection.uri_san_peer_certificate",
        "route_name",
        "upstream.address",
    ];
    let mut ops: Vec<_> = paths
        .iter()
        .map(|p| get(&p.split('.').collect::<Vec<_>>()))
        .collect();
    ops.push(get(&["xds", "cluster_name"]));
    let mut host = probe_builder(json!({"on_request_headers": ops}))
        .property("xds.cluster_name", "outbound|443||b.example.com")
        .build()
        .unwrap();
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let r = results_of(&host, "on_request_headers", "get_property");
    assert!(r.iter().all(|r| r["status"] == 0), "{r:#?}");
    assert_eq!(
        r.last().unwrap()["value"]["text"],
        "outbound|443||b.example.com"
    );
}

#[test]
fn set_property_on_a_root_context_is_not_found__envoy_set_property_needs_stream_info() {
    let host = probe_host(
        json!({"on_configure": [{"op": "set_property", "path": ["wasm", "x"], "value": "1"}]}),
    );
    assert_eq!(status(&host, "on_configure", "set_property"), NOT_FOUND);
}
