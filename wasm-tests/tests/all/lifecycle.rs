//! Lifecycle and filter-chain semantics: cpp-host `context.cc`, Envoy `context.cc`.
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use portcullis_wasm_tests::{Phase, ReplySource, Step, WasmModule};
use serde_json::json;

use crate::support::*;

#[test]
fn start_order_is_context_create_vm_start_configure__cpp_host_on_start() {
    let host = probe_builder(
        json!({"on_configure": [{"op": "get_buffer", "type": 7}, {"op": "get_buffer", "type": 6}]}),
    )
    .vm_config(
        json!({"on_vm_start": [{"op": "get_buffer", "type": 6}, {"op": "get_buffer", "type": 8}]})
            .to_string(),
    )
    .build()
    .unwrap();
    assert_eq!(callbacks(&host), vec!["on_vm_start", "on_configure"]);
    let vm = results_of(&host, "on_vm_start", "get_buffer");
    assert!(
        vm[0]["value"].as_str().unwrap().contains("on_vm_start"),
        "VM config readable in on_vm_start"
    );
    assert_eq!(
        vm[1]["status"], NOT_FOUND,
        "FFI args not available in on_vm_start"
    );
    let cfg = results_of(&host, "on_configure", "get_buffer");
    assert!(cfg[0]["value"].as_str().unwrap().contains("on_configure"));
    assert_eq!(cfg[1]["status"], NOT_FOUND, "VM config only in on_vm_start");
    assert_eq!(
        result(&host, "on_vm_start", "callback")["value"]["context"],
        host.root_context(0)
    );
    assert_eq!(host.configured(), vec![true]);
}

#[test]
fn on_configure_false_fails_the_start__envoy_fatal_plugin_error() {
    let err = probe_builder(json!({"configure_result": false}))
        .build()
        .unwrap_err();
    assert!(format!("{err:#}").contains("returned false"), "{err:#}");
}

#[test]
fn reconfigure_creates_a_new_root_context_on_the_same_vm__envoy_ecds_update() {
    let mut host = probe_host(json!({}));
    let first = host.root_context(0);
    let ok = host
        .reconfigure(
            json!({"on_request_headers": [{"op": "log", "level": 2, "msg": "v2"}]}).to_string(),
        )
        .unwrap();
    assert_eq!(ok, vec![true]);
    assert_ne!(host.root_context(0), first);
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert!(host.log_messages().contains(&"v2".to_string()));
    let serving = host.root_context(0);
    assert!(
        host.reconfigure(json!({"configure_result": false}).to_string())
            .unwrap()
            == vec![false]
    );
    assert_eq!(
        host.root_context(0),
        serving,
        "a rejected update keeps the previous root serving (Envoy rejects the filter config)"
    );
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(host.log_messages().iter().filter(|m| *m == "v2").count(), 2);
}

#[test]
fn stream_callbacks_run_in_envoy_order_and_on_log_precedes_on_delete__envoy_filter_chain() {
    let mut host = probe_host(json!({}));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"req", false);
    s.send_trailers(&[("t", "1")]);
    s.respond_headers(200, &[], false);
    s.respond_body(b"resp", false);
    s.respond_trailers(&[("rt", "1")]);
    let rec = s.finish();
    assert!(rec.deleted);
    assert_eq!(
        callbacks(&host)[2..],
        [
            "on_request_headers",
            "on_request_body",
            "on_request_trailers",
            "on_response_headers",
            "on_response_body",
            "on_response_trailers",
            "on_done",
            "on_log",
            "on_delete"
        ]
    );
    assert_eq!(rec.state.request.forwarded_body, b"req");
    assert_eq!(rec.state.response.forwarded_body, b"resp");
}

#[test]
fn pause_in_headers_holds_body_callbacks_until_resume__cpp_host_pr_95_stop_all() {
    let mut host = probe_builder(json!({
        "returns": {"on_request_headers": "pause"},
        "on_request_headers": [{"op": "http_call", "cluster": "authz", "headers": [[":method", "GET"], [":path", "/"], [":authority", "z"]], "timeout": 0}],
        "on_http_call_response": [{"op": "continue", "stream": 0}]
    }))
    .clusters(["authz"])
    .build()
    .unwrap();
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    assert_eq!(s.send_body(b"abc", false), Step::Paused(Phase::Headers));
    s.send_body(b"def", true);
    assert!(results_of(s.host(), "on_request_body", "callback").is_empty());
    let token = s.host().pending_callouts()[0].token;
    s.host().answer_callout(token, 200, &[], b"").unwrap();
    assert_eq!(s.request_step(), Step::Continued);
    assert_eq!(s.upstream_body(), b"abcdef");
    let bodies = results_of(&host, "on_request_body", "callback");
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["value"], json!({"size": 6, "eos": true}));
}

#[test]
fn paused_body_callbacks_see_the_cumulative_size__go_sdk_414() {
    let mut host = probe_host(
        json!({"returns": {"on_request_body": "pause"}, "on_request_body": [{"op": "get_buffer", "type": 0}]}),
    );
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"aaa", false);
    s.send_body(b"bbb", false);
    assert_eq!(s.send_body(b"ccc", true), Step::Paused(Phase::Body));
    assert!(s.upstream_body().is_empty());
    let sizes: Vec<_> = results_of(&host, "on_request_body", "callback")
        .iter()
        .map(|r| r["value"]["size"].clone())
        .collect();
    assert_eq!(sizes, vec![json!(3), json!(6), json!(9)]);
    assert_eq!(
        results_of(&host, "on_request_body", "get_buffer")[2]["value"],
        "aaabbbccc"
    );
}

#[test]
fn buffered_request_over_the_limit_is_413_and_response_is_500__envoy_buffer_limit() {
    let mut host = probe_builder(json!({"returns": {"on_request_body": "pause"}}))
        .buffer_limit(8)
        .build()
        .unwrap();
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"12345", false);
    let step = s.send_body(b"67890", false);
    let Step::LocalResponse(r) = step else {
        panic!("{step:?}")
    };
    assert_eq!((r.status, r.source), (413, ReplySource::BufferLimit));

    // Response headers held (StopAll) so nothing went downstream yet.
    let mut host = probe_builder(json!({"returns": {"on_response_headers": "pause"}}))
        .buffer_limit(8)
        .build()
        .unwrap();
    let mut s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    s.respond_headers(200, &[], false);
    s.respond_body(b"12345", false);
    s.respond_body(b"67890", false);
    assert_eq!(s.local_response().map(|r| r.status), Some(500));
}

#[test]
fn body_buffer_is_available_only_in_body_callbacks__envoy_get_buffer() {
    let mut host = probe_host(json!({
        "on_request_headers": [{"op": "get_buffer", "type": 0}, {"op": "buffer_status", "type": 0}, {"op": "get_buffer", "type": 9}],
        "on_request_body": [{"op": "buffer_status", "type": 0}, {"op": "get_buffer", "type": 0, "start": 1, "max": 2}, {"op": "get_buffer", "type": 1}]
    }));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"hello", true);
    let h = results_of(&host, "on_request_headers", "get_buffer");
    assert_eq!(h[0]["status"], NOT_FOUND);
    assert_eq!(h[1]["status"], BAD_ARGUMENT, "buffer type 9 does not exist");
    assert_eq!(
        status(&host, "on_request_headers", "buffer_status"),
        NOT_FOUND
    );
    assert_eq!(
        result(&host, "on_request_body", "buffer_status")["value"]["len"],
        5
    );
    let b = results_of(&host, "on_request_body", "get_buffer");
    assert_eq!(b[0]["value"], "el");
    assert_eq!(
        b[1]["status"], NOT_FOUND,
        "no response body in a request callback"
    );
}

#[test]
fn set_buffer_bytes_drains_and_prepends_at_zero_or_appends_at_the_end__envoy_buffer_copy_from() {
    let mut host = probe_host(json!({"on_request_body": [
        {"op": "set_buffer", "type": 0, "start": 0, "size": 0, "value": "<"},
        {"op": "set_buffer", "type": 0, "start": 100, "size": 0, "value": ">"},
        {"op": "set_buffer", "type": 0, "start": 2, "size": 1, "value": "X"},
        {"op": "get_buffer", "type": 0}
    ]}));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"body", true);
    assert_eq!(s.upstream_body(), b"<body>");
    let st: Vec<_> = results_of(&host, "on_request_body", "set_buffer")
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(st, vec![0, 0, BAD_ARGUMENT]);

    let mut host = probe_host(
        json!({"on_request_body": [{"op": "set_buffer", "type": 0, "start": 0, "size": 99, "value": "new"}]}),
    );
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"old", true);
    assert_eq!(s.upstream_body(), b"new");

    // start 0 with a size drains that many bytes, then prepends.
    let mut host = probe_host(
        json!({"on_request_body": [{"op": "set_buffer", "type": 0, "start": 0, "size": 2, "value": "X"}]}),
    );
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    s.send_body(b"body", true);
    assert_eq!(s.upstream_body(), b"Xdy");
}

#[test]
fn local_response_is_recorded_and_runs_through_on_response_headers__envoy_send_local_reply() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "local_response", "code": 403, "details": "host not allowed", "body": "denied", "headers": [["X-Reason", "host"]]}
    ]}));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str(), r.details.as_str()),
        (403, "denied", "host_not_allowed")
    );
    assert_eq!(
        r.headers,
        vec![("x-reason".to_string(), "host".to_string())]
    );
    assert_eq!(r.grpc_status, None, "-1 means no gRPC status");
    assert!(matches!(
        s.send_body(b"ignored", true),
        Step::LocalResponse(_)
    ));
    assert_eq!(s.response_header(":status").as_deref(), Some("403"));
    assert_eq!(s.downstream_body(), b"denied");
    assert_eq!(
        results_of(&host, "on_response_headers", "callback").len(),
        1
    );
    assert!(results_of(&host, "on_request_body", "callback").is_empty());
}

#[test]
fn local_response_after_response_headers_went_downstream_is_refused__envoy_send_local_reply() {
    let mut host = probe_host(
        json!({"on_response_body": [{"op": "local_response", "code": 500, "body": "late"}]}),
    );
    let mut s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    s.respond_headers(200, &[], false);
    assert_eq!(s.respond_body(b"x", true), Step::Reset);
    let rec = s.record();
    assert!(rec.local_response.is_none());
    assert_eq!(rec.refused_local_responses.len(), 1);
}

#[test]
fn set_effective_context_to_an_unknown_id_is_bad_argument_and_proxy_done_needs_a_pending_done__cpp_host_exports_cc()
 {
    let host = probe_host(
        json!({"on_configure": [{"op": "set_effective_context", "id": 999}, {"op": "done"}]}),
    );
    assert_eq!(
        status(&host, "on_configure", "set_effective_context"),
        BAD_ARGUMENT
    );
    assert_eq!(status(&host, "on_configure", "done"), NOT_FOUND);
}

#[test]
fn stream_on_done_false_is_ignored_and_on_log_still_runs__envoy_context_on_destroy() {
    let mut host = probe_host(json!({"done_result": false, "on_done": [{"op": "done"}]}));
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let rec = s.finish();
    assert!(rec.done_returned_false && rec.deleted);
    assert_eq!(results_of(&host, "on_log", "callback").len(), 1);
    assert_eq!(
        status(&host, "on_done", "done"),
        NOT_FOUND,
        "proxy_done is for pending roots only"
    );
}

#[test]
fn root_on_done_false_waits_for_proxy_done_at_shutdown__cpp_host_wasm_done() {
    let mut host = probe_host(json!({
        "root_done_result": false,
        "on_root_done": [{"op": "set_tick", "ms": 10}],
        "on_tick": [{"op": "done"}]
    }));
    let root = host.root_context(0);
    assert_eq!(host.shutdown(), vec![(0, root)]);
    host.advance(10);
    assert_eq!(status(&host, "on_tick", "done"), 0);
    assert!(host.pending_done().is_empty());
}

#[test]
fn tcp_stream_api_delivers_data_and_close__envoy_network_filter() {
    let mut host = probe_host(
        json!({"context_type": "tcp", "on_downstream_data": [{"op": "get_buffer", "type": 2}], "returns": {"on_upstream_data": "pause"}}),
    );
    let mut c = host.tcp_connection().unwrap();
    c.downstream_data(b"hello", false);
    let rec = c.upstream_data(b"world", false);
    assert_eq!(rec.state.forwarded_downstream, b"hello");
    assert!(rec.state.upstream_paused);
    let rec = c.upstream_data(b"!", true);
    assert_eq!(
        rec.state.upstream, b"world!",
        "a paused upstream keeps buffering"
    );
    c.close_downstream();
    let rec = c.close_upstream();
    assert!(rec.deleted);
    assert_eq!(
        result(&host, "on_downstream_data", "get_buffer")["value"],
        "hello"
    );
    let cbs = callbacks(&host);
    assert!(
        cbs.ends_with(&[
            "on_downstream_close".to_string(),
            "on_upstream_close".to_string(),
            "on_log".to_string()
        ]),
        "{cbs:?}"
    );
}

/// A module that imports `proxy_clear_route_cache` (removed in ABI 0.2.0).
fn module_importing_clear_route_cache() -> Vec<u8> {
    let mut m = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    m.extend([0x01, 0x08, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x00, 0x00]);
    let name = b"proxy_clear_route_cache";
    let mut imp = vec![0x01, 0x03];
    imp.extend(b"env");
    imp.push(name.len() as u8);
    imp.extend(name);
    imp.extend([0x00, 0x00]);
    m.push(0x02);
    m.push(imp.len() as u8);
    m.extend(imp);
    m.extend([0x03, 0x02, 0x01, 0x01]);
    m.extend([0x05, 0x03, 0x01, 0x00, 0x01]);
    let abi = b"proxy_abi_version_0_2_1";
    let mut exp = vec![0x02, 0x06];
    exp.extend(b"memory");
    exp.extend([0x02, 0x00, abi.len() as u8]);
    exp.extend(abi);
    exp.extend([0x00, 0x01]);
    m.push(0x07);
    m.push(exp.len() as u8);
    m.extend(exp);
    m.extend([0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]);
    m
}

#[test]
fn an_import_envoy_does_not_provide_fails_instantiation__envoy_missing_import() {
    let module = std::sync::Arc::new(
        WasmModule::from_bytes("crc", &module_importing_clear_route_cache()).unwrap(),
    );
    assert_eq!(module.imports(), vec!["env.proxy_clear_route_cache"]);
    let err = portcullis_wasm_tests::Host::builder(&module)
        .build()
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("missing import: env.proxy_clear_route_cache"),
        "{msg}"
    );
}

#[test]
fn the_probe_imports_only_functions_envoy_provides() {
    let m = probe();
    let imports = m.imports();
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("env.proxy_") || i.starts_with("wasi_snapshot_preview1.")),
        "{imports:?}"
    );
    assert!(!imports.contains(&"env.proxy_clear_route_cache".to_string()));
}

#[test]
fn close_stream_resets_the_http_stream__envoy_close_stream() {
    let mut host = probe_host(
        json!({"on_request_headers": [{"op": "close", "stream": 0}, {"op": "close", "stream": 9}]}),
    );
    let s = host.http_request().get("a", "/").send_headers().unwrap();
    assert_eq!(s.request_step(), Step::Reset);
    let st: Vec<_> = results_of(&host, "on_request_headers", "close")
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(st, vec![0, BAD_ARGUMENT]);
}

#[test]
fn foreign_function_callback_sees_its_arguments_buffer__cpp_host_on_foreign_function() {
    let mut host = probe_host(json!({"on_foreign_function": [{"op": "get_buffer", "type": 8}]}));
    host.call_foreign_callback(0, 7, b"args!");
    assert_eq!(
        result(&host, "on_foreign_function", "callback")["value"],
        json!({"id": 7, "size": 5})
    );
    assert_eq!(
        result(&host, "on_foreign_function", "get_buffer")["value"],
        "args!"
    );
}

#[test]
fn build_wasm_failure_is_actionable() {
    let err = portcullis_wasm_tests::artifacts::build_wasm("no-such-package-xyz").unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cargo build --release --target wasm32-wasip1 -p no-such-package-xyz"),
        "{msg}"
    );
}

#[test]
fn a_local_response_asked_for_from_a_tick_ends_the_paused_stream__envoy_set_effective_context() {
    let mut host = probe_host(json!({
        "returns": {"on_request_headers": "pause"},
        "on_request_headers": [{"op": "set_tick", "ms": 5}],
        "on_tick": [{"op": "set_effective_context", "id": 2}, {"op": "local_response", "code": 429, "body": "slow down"}]
    }));
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    assert_eq!(s.request_step(), Step::Paused(Phase::Headers));
    s.host().advance(5);
    assert_eq!(s.local_response().map(|r| r.status), Some(429));
    assert_eq!(s.downstream_body(), b"slow down");
}

#[test]
fn main_thread_vm_makes_config_parse_n_plus_one_times_and_ticks_but_serves_no_streams__envoy_vm_per_worker()
 {
    let mut host = probe_builder(json!({"on_configure": [{"op": "set_tick", "ms": 10}]}))
        .workers(2)
        .main_thread_vm(true)
        .build()
        .unwrap();
    assert_eq!(results_of(&host, "on_configure", "callback").len(), 3);
    assert_eq!(host.main_thread_vm(), Some(2));
    for _ in 0..4 {
        host.http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
    }
    let served: Vec<usize> = host
        .logs()
        .into_iter()
        .filter(|l| l.message.contains(r#""cb":"on_request_headers""#))
        .map(|l| l.worker)
        .collect();
    assert_eq!(served, vec![0, 1, 0, 1]);
    host.advance(10);
    assert_eq!(results_of(&host, "on_tick", "callback").len(), 3);
}
