//! HTTP and gRPC callouts: Envoy `context.cc httpCall/grpcCall`.
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use portcullis_wasm_tests::{GrpcEvent, Phase, Step};
use serde_json::json;

use crate::support::*;

fn call(headers: serde_json::Value, cluster: &str) -> serde_json::Value {
    json!({"op": "http_call", "cluster": cluster, "headers": headers, "body": "ping", "timeout": 500})
}

fn good_headers() -> serde_json::Value {
    json!([
        [":method", "POST"],
        [":path", "/check"],
        [":authority", "authz"]
    ])
}

#[test]
fn http_call_without_method_path_or_authority_is_bad_argument__envoy_http_call() {
    let host = probe_builder(json!({"on_configure": [
        call(json!([[":path", "/"], [":authority", "a"]]), "authz"),
        call(json!([[":method", "GET"], [":authority", "a"]]), "authz"),
        call(json!([[":method", "GET"], [":path", "/"]]), "authz")
    ]}))
    .clusters(["authz"])
    .build()
    .unwrap();
    let r = results_of(&host, "on_configure", "http_call");
    assert!(r.iter().all(|r| r["status"] == BAD_ARGUMENT), "{r:#?}");
    assert!(host.pending_callouts().is_empty());
}

#[test]
fn http_call_to_unknown_cluster_is_bad_argument__envoy_http_call() {
    let host = probe_builder(json!({"on_configure": [call(good_headers(), "nowhere")]}))
        .clusters(["authz"])
        .build()
        .unwrap();
    assert_eq!(status(&host, "on_configure", "http_call"), BAD_ARGUMENT);
}

#[test]
fn answered_callout_resumes_the_paused_request__envoy_on_http_call_response() {
    let mut host = probe_builder(json!({
        "on_request_headers": [call(good_headers(), "authz")],
        "on_http_call_response": [{"op": "callout_response"}, {"op": "get_status"}, {"op": "continue", "stream": 0}],
        "returns": {"on_request_headers": "pause"}
    }))
    .clusters(["authz", "backend"])
    .route_cluster("backend")
    .build()
    .unwrap();
    let mut s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.request_step(), Step::Paused(Phase::Headers));
    let callouts = s.host().pending_callouts();
    assert_eq!(callouts.len(), 1);
    let c = &callouts[0];
    assert_eq!(
        (c.cluster.as_str(), c.header(":path"), c.body.as_slice()),
        ("authz", Some("/check"), &b"ping"[..])
    );
    assert_eq!(c.deadline_ms, Some(500));
    s.host()
        .answer_callout(c.token, 200, &[("x-verdict", "allow")], b"ok")
        .unwrap();
    assert_eq!(s.request_step(), Step::Continued);
    assert_eq!(s.upstream_cluster().as_deref(), Some("backend"));
    let r = result(&host, "on_http_call_response", "callout_response");
    assert_eq!(r["value"]["body"], "ok");
    assert_eq!(
        r["value"]["headers"],
        json!([[":status", "200"], ["x-verdict", "allow"]])
    );
    assert_eq!(status(&host, "on_http_call_response", "get_status"), 0);
}

#[test]
fn callout_times_out_on_the_virtual_clock_with_zero_headers__envoy_on_http_call_failure() {
    let mut host = probe_builder(json!({
        "on_configure": [call(good_headers(), "authz")],
        "on_http_call_response": [{"op": "get_status"}]
    }))
    .clusters(["authz"])
    .build()
    .unwrap();
    host.advance(499);
    assert_eq!(host.pending_callouts().len(), 1);
    host.advance(1);
    assert!(host.pending_callouts().is_empty());
    let r = result(&host, "on_http_call_response", "callback");
    assert_eq!(r["value"]["headers"], 0);
    // Envoy onHttpCallFailure: BrokenConnection (11) with message "reset".
    let st = result(&host, "on_http_call_response", "get_status");
    assert_eq!(st["value"], json!({"code": 11, "message": "reset"}));
}

#[test]
fn get_status_outside_a_callout_response_is_ok_with_code_zero__cpp_host_get_status() {
    let host = probe_host(json!({"on_configure": [{"op": "get_status"}]}));
    let r = result(&host, "on_configure", "get_status");
    assert_eq!(r["status"], 0);
    assert_eq!(r["value"], json!({"code": 0, "message": ""}));
}

#[test]
fn grpc_call_to_unknown_upstream_is_parse_failure__envoy_grpc_call() {
    let host = probe_host(json!({"on_configure": [
        {"op": "grpc_call", "cluster": "nowhere", "service": "s", "method": "m", "message": "x", "timeout": 100},
        {"op": "grpc_stream", "cluster": "nowhere", "service": "s", "method": "m"}
    ]}));
    assert_eq!(status(&host, "on_configure", "grpc_call"), PARSE_FAILURE);
    assert_eq!(status(&host, "on_configure", "grpc_stream"), PARSE_FAILURE);
}

#[test]
fn grpc_call_is_recorded_and_answered_through_on_grpc_receive__envoy_grpc_call() {
    let mut host = probe_builder(json!({
        "on_configure": [{"op": "grpc_call", "cluster": "rls", "service": "envoy.RateLimit", "method": "ShouldRateLimit", "message": "req", "timeout": 100}],
        "on_grpc_call_response": [{"op": "grpc_message"}]
    }))
    .clusters(["rls"])
    .build()
    .unwrap();
    let calls = host.grpc_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].messages, vec![b"req".to_vec()]);
    assert_eq!(calls[0].token % 2, 1, "call tokens are odd in cpp-host");
    host.answer_grpc(calls[0].token, 0, b"resp").unwrap();
    assert_eq!(
        result(&host, "on_grpc_call_response", "grpc_message")["value"],
        "resp"
    );
}

#[test]
fn grpc_stream_send_close_and_cancel__envoy_grpc_send_close_cancel() {
    let mut host = probe_builder(json!({
        "on_configure": [
            {"op": "grpc_stream", "cluster": "rls", "service": "s", "method": "m"},
            {"op": "grpc_send", "token": 2, "message": "m1"},
            {"op": "grpc_send", "token": 1, "message": "m1"},
            {"op": "grpc_close", "token": 2},
            {"op": "grpc_cancel", "token": 40}
        ]
    }))
    .clusters(["rls"])
    .build()
    .unwrap();
    let sends = results_of(&host, "on_configure", "grpc_send");
    assert_eq!(sends[0]["status"], 0);
    assert_eq!(
        sends[1]["status"], BAD_ARGUMENT,
        "grpc_send on a call token"
    );
    assert_eq!(status(&host, "on_configure", "grpc_close"), 0);
    assert_eq!(status(&host, "on_configure", "grpc_cancel"), NOT_FOUND);
    let g = &host.grpc_callouts()[0];
    assert!(g.is_stream && g.local_closed);
    assert_eq!(g.messages, vec![b"m1".to_vec()]);
    host.grpc_stream_event(2, GrpcEvent::Message(b"x".to_vec()))
        .unwrap();
    host.grpc_stream_event(2, GrpcEvent::Close(0)).unwrap();
    assert_eq!(
        result(&host, "on_grpc_stream_message", "callback")["value"]["size"],
        1
    );
    assert_eq!(
        result(&host, "on_grpc_stream_close", "callback")["value"]["status"],
        0
    );
}

#[test]
fn callouts_run_on_the_root_context_and_outlive_the_stream__cpp_host_exports_http_call() {
    let mut host = probe_builder(json!({"on_request_headers": [call(good_headers(), "authz")]}))
        .clusters(["authz"])
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    s.finish();
    let pending = host.pending_callouts();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].context, host.root_context(0));
    host.answer_callout(pending[0].token, 200, &[], b"")
        .unwrap();
    assert!(host.failures().is_empty(), "{}", host.report());
}

#[test]
fn grpc_call_deadline_on_the_virtual_clock_closes_with_deadline_exceeded__envoy_grpc_on_failure() {
    let mut host = probe_builder(json!({
        "on_configure": [{"op": "grpc_call", "cluster": "rls", "service": "s", "method": "m", "message": "x", "timeout": 20}]
    }))
    .clusters(["rls"])
    .build()
    .unwrap();
    host.advance(20);
    let r = result(&host, "on_grpc_call_response", "callback");
    assert_eq!(r["value"]["status"], 4);
    assert!(host.grpc_callouts().is_empty());
}

#[test]
fn grpc_stream_metadata_and_messages_are_readable_in_their_callbacks__envoy_get_const_map() {
    let mut host = probe_builder(json!({
        "on_configure": [{"op": "grpc_stream", "cluster": "rls", "service": "s", "method": "m"}],
        "on_grpc_initial_metadata": [{"op": "get_header", "map": 4, "key": "x-md"}, {"op": "get_header", "map": 5, "key": "x-md"}],
        "on_grpc_stream_message": [{"op": "get_buffer", "type": 5}],
        "on_grpc_trailing_metadata": [{"op": "get_pairs", "map": 5}]
    }))
    .clusters(["rls"])
    .build()
    .unwrap();
    let md = vec![("x-md".to_string(), "v".to_string())];
    host.grpc_stream_event(2, GrpcEvent::InitialMetadata(md.clone()))
        .unwrap();
    host.grpc_stream_event(2, GrpcEvent::Message(b"frame".to_vec()))
        .unwrap();
    host.grpc_stream_event(2, GrpcEvent::TrailingMetadata(md))
        .unwrap();
    let r = results_of(&host, "on_grpc_initial_metadata", "get_header");
    assert_eq!(r[0]["value"], "v");
    assert_eq!(
        r[1]["status"], BAD_ARGUMENT,
        "trailing metadata is not there yet"
    );
    assert_eq!(
        result(&host, "on_grpc_stream_message", "get_buffer")["value"],
        "frame"
    );
    assert_eq!(
        result(&host, "on_grpc_trailing_metadata", "get_pairs")["value"]["pairs"],
        json!([["x-md", "v"]])
    );
}
