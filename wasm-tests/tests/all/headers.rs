//! Header maps: cpp-host `exports.cc` and Envoy `context.cc` behaviours.
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

fn one_request(config: serde_json::Value) -> portcullis_wasm_tests::Host {
    let mut host = probe_host(config);
    let s = host
        .http_request()
        .get("a.example.com", "/x")
        .header("X-Mixed-Case", "v1")
        .header("x-empty", "")
        .send_headers_only()
        .unwrap();
    let mut s = s;
    s.respond_headers(200, &[("server", "up")], true);
    s.finish();
    host
}

#[test]
fn get_header_map_value_missing_key_is_not_found__cpp_host_exports_cc() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_header", "map": REQ_H, "key": "x-absent"}
    ]}));
    assert_eq!(status(&host, "on_request_headers", "get_header"), NOT_FOUND);
}

#[test]
fn request_header_keys_arrive_lowercased_and_lookups_ignore_case__envoy_lower_case_string() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_header", "map": REQ_H, "key": "X-MIXED-CASE"}
    ]}));
    let r = result(&host, "on_request_headers", "get_header");
    assert_eq!(r["status"], 0);
    assert_eq!(r["value"], "v1");
}

#[test]
fn empty_header_value_is_a_value_not_absent__envoy_context_cc() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_header", "map": REQ_H, "key": "x-empty"}
    ]}));
    let r = result(&host, "on_request_headers", "get_header");
    assert_eq!(r["status"], 0, "{r}");
    // The host writes (0, 0) for an empty value; the probe sees a null buffer.
    assert!(r["value"].is_null() || r["value"] == "");
}

#[test]
fn add_header_lowercases_the_key__envoy_lower_case_string() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "add_header", "map": REQ_H, "key": "X-Added", "value": "1"}
    ]}));
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.request_header("x-added").as_deref(), Some("1"));
    assert!(
        s.request_headers()
            .iter()
            .all(|(k, _)| k == &k.to_ascii_lowercase())
    );
}

#[test]
fn replace_header_adds_when_absent_and_collapses_duplicates__envoy_set_copy() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "replace_header", "map": REQ_H, "key": "x-new", "value": "n"},
        {"op": "replace_header", "map": REQ_H, "key": "x-dup", "value": "z"}
    ]}));
    let s = host
        .http_request()
        .get("a", "/")
        .header("x-dup", "1")
        .header("x-dup", "2")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(s.request_header("x-new").as_deref(), Some("n"));
    let dups: Vec<_> = h.iter().filter(|(k, _)| k == "x-dup").collect();
    assert_eq!(dups, vec![&("x-dup".to_string(), "z".to_string())]);
}

#[test]
fn remove_absent_header_is_ok__envoy_context_cc() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "remove_header", "map": REQ_H, "key": "x-absent"}
    ]}));
    assert_eq!(status(&host, "on_request_headers", "remove_header"), 0);
}

#[test]
fn empty_map_is_returned_as_size_zero__cpp_host_exports_cc_get_header_map_pairs() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_pairs", "map": REQ_T}
    ]}));
    let r = result(&host, "on_request_headers", "get_pairs");
    assert_eq!(r["status"], 0);
    assert_eq!(
        r["value"]["raw_len"], 0,
        "an empty map must be 0 bytes, not [0]"
    );
}

#[test]
fn get_header_map_pairs_uses_pairs_util_layout__cpp_host_pairs_util() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_pairs", "map": REQ_H}
    ]}));
    let r = result(&host, "on_request_headers", "get_pairs");
    let pairs = r["value"]["pairs"].as_array().unwrap();
    assert_eq!(pairs[0], json!([":method", "GET"]));
    assert_eq!(pairs.len(), 6);
    // 4 + 8 per pair + key and value bytes each NUL-terminated.
    let expected: usize = 4 + pairs
        .iter()
        .map(|p| 8 + p[0].as_str().unwrap().len() + 1 + p[1].as_str().unwrap().len() + 1)
        .sum::<usize>();
    assert_eq!(r["value"]["raw_len"], expected);
}

#[test]
fn set_header_map_pairs_replaces_the_map_with_lowercased_keys__envoy_context_cc() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "set_pairs", "map": REQ_H, "pairs": [[":path", "/new"], ["X-A", "1"]]}
    ]}));
    let s = host
        .http_request()
        .get("a", "/old")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.request_headers(),
        vec![
            (":path".to_string(), "/new".to_string()),
            ("x-a".to_string(), "1".to_string())
        ]
    );
}

#[test]
fn header_map_size_is_envoy_byte_size__envoy_context_cc() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "map_size", "map": REQ_H}
    ]}));
    let r = result(&host, "on_request_headers", "map_size");
    let expected = [
        ":method",
        "GET",
        ":scheme",
        "https",
        ":path",
        "/x",
        ":authority",
    ]
    .iter()
    .map(|s| s.len())
    .sum::<usize>()
        + "a.example.com".len()
        + "x-mixed-case".len()
        + 2
        + "x-empty".len();
    assert_eq!(r["value"], expected);
}

#[test]
fn request_headers_are_gone_after_continue_so_reading_them_later_is_bad_argument__envoy_decode_headers()
 {
    let host = one_request(json!({"on_response_headers": [
        {"op": "get_header", "map": REQ_H, "key": ":path"},
        {"op": "get_header", "map": RESP_H, "key": "server"}
    ]}));
    assert_eq!(
        status(&host, "on_response_headers", "get_header"),
        BAD_ARGUMENT
    );
    let r = results_of(&host, "on_response_headers", "get_header");
    assert_eq!(r[1]["value"], "up");
}

#[test]
fn headers_are_readable_in_on_log__envoy_access_log_phase() {
    let host = one_request(json!({"on_log": [
        {"op": "get_header", "map": REQ_H, "key": ":path"},
        {"op": "get_header", "map": RESP_H, "key": ":status"},
        {"op": "get_header", "map": REQ_T, "key": "x"}
    ]}));
    let r = results_of(&host, "on_log", "get_header");
    assert_eq!(r[0]["value"], "/x");
    assert_eq!(r[1]["value"], "200");
    // A map absent in the access-log phase is NOT_FOUND, not BAD_ARGUMENT.
    assert_eq!(r[2]["status"], NOT_FOUND);
}

#[test]
fn writing_headers_in_on_log_is_bad_argument__envoy_get_map() {
    let host = one_request(json!({"on_log": [
        {"op": "add_header", "map": REQ_H, "key": "x", "value": "y"}
    ]}));
    assert_eq!(status(&host, "on_log", "add_header"), BAD_ARGUMENT);
}

#[test]
fn unknown_map_type_is_bad_argument__cpp_host_exports_cc() {
    let host = one_request(json!({"on_request_headers": [
        {"op": "get_header", "map": 42, "key": "x"},
        {"op": "add_header", "map": 42, "key": "x", "value": "y"},
        {"op": "get_pairs", "map": 42}
    ]}));
    assert_eq!(
        status(&host, "on_request_headers", "get_pairs"),
        BAD_ARGUMENT
    );
    assert_eq!(
        status(&host, "on_request_headers", "get_header"),
        BAD_ARGUMENT
    );
    assert_eq!(
        status(&host, "on_request_headers", "add_header"),
        BAD_ARGUMENT
    );
}

#[test]
fn trailers_are_readable_in_their_callback_and_added_in_the_last_body_callback__envoy_get_map() {
    let mut host = probe_host(json!({
        "on_request_trailers": [{"op": "get_header", "map": REQ_T, "key": "grpc-status"}],
        "on_response_body": [{"op": "add_header", "map": 3, "key": "x-trailer", "value": "t"}]
    }));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"abc", false);
    s.send_trailers(&[("grpc-status", "0")]);
    s.respond_headers(200, &[], false);
    s.respond_body(b"xyz", true);
    let rec = s.finish();
    assert_eq!(
        rec.state.response.trailers,
        Some(vec![("x-trailer".to_string(), "t".to_string())])
    );
    let r = result(&host, "on_request_trailers", "get_header");
    assert_eq!(r["value"], "0");
}
