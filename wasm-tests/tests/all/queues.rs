//! Shared queues: cpp-host `src/shared_queue.cc`.
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

#[test]
fn enqueue_notifies_the_registering_root_and_dequeue_ends_with_empty__cpp_host_shared_queue_cc() {
    let mut host = probe_host(json!({
        "on_configure": [{"op": "register_queue", "name": "audit"}],
        "on_request_headers": [{"op": "enqueue", "id": 1, "value": "event-1"}, {"op": "enqueue", "id": 1, "value": "event-2"}],
        "on_queue_ready": [{"op": "drain", "id": 1}]
    }));
    assert_eq!(result(&host, "on_configure", "register_queue")["value"], 1);
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let ready = results_of(&host, "on_queue_ready", "callback");
    assert_eq!(ready.len(), 2, "one notification per enqueue");
    assert_eq!(ready[0]["value"]["context"], host.root_context(0));
    let d: Vec<_> = results_of(&host, "on_queue_ready", "dequeue")
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["value"].clone()))
        .collect();
    assert_eq!(d[0], (0, json!("event-1")));
    assert_eq!(d[1], (0, json!("event-2")));
    assert_eq!(d[2].0, EMPTY);
    assert_eq!(host.queue_len("audit"), Some(0));
}

#[test]
fn register_twice_returns_the_same_queue_and_resolve_finds_it__cpp_host_shared_queue_cc() {
    let host = probe_host(json!({"on_configure": [
        {"op": "register_queue", "name": "q"},
        {"op": "register_queue", "name": "q"},
        {"op": "resolve_queue", "vm_id": "probe-vm", "name": "q"},
        {"op": "resolve_queue", "vm_id": "probe-vm", "name": "absent"},
        {"op": "resolve_queue", "vm_id": "other-vm", "name": "q"}
    ]}));
    let reg = results_of(&host, "on_configure", "register_queue");
    assert_eq!(reg[0]["value"], reg[1]["value"]);
    let res = results_of(&host, "on_configure", "resolve_queue");
    assert_eq!(res[0]["value"], reg[0]["value"]);
    assert_eq!(res[1]["status"], NOT_FOUND);
    assert_eq!(
        res[2]["status"], NOT_FOUND,
        "queues are namespaced by vm_id"
    );
}

#[test]
fn unknown_queue_id_is_not_found__cpp_host_shared_queue_cc() {
    let host = probe_host(json!({"on_configure": [
        {"op": "enqueue", "id": 99, "value": "x"}, {"op": "dequeue", "id": 99}
    ]}));
    assert_eq!(status(&host, "on_configure", "enqueue"), NOT_FOUND);
    assert_eq!(status(&host, "on_configure", "dequeue"), NOT_FOUND);
}

#[test]
fn the_last_registrant_receives_on_queue_ready__cpp_host_shared_queue_cc() {
    // Worker 0 registers first; worker 1's registration takes the same queue over.
    let mut host = probe_builder(json!({
        "on_configure": [{"op": "register_queue", "name": "q"}],
        "on_request_headers": [{"op": "enqueue", "id": 1, "value": "e"}]
    }))
    .workers(2)
    .build()
    .unwrap();
    host.http_request()
        .worker(0)
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let ready: Vec<_> = host
        .logs()
        .into_iter()
        .filter(|l| {
            l.message
                .contains(r#""cb":"on_queue_ready","op":"callback""#)
        })
        .collect();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].worker, 1);
}

#[test]
fn a_queue_resolved_by_vm_id_notifies_the_registering_plugin__cpp_host_shared_queue_cc() {
    let mut consumer = probe_builder(json!({
        "on_configure": [{"op": "register_queue", "name": "events"}],
        "on_queue_ready": [{"op": "drain", "id": 1}]
    }))
    .plugin_name("consumer")
    .build()
    .unwrap();
    let mut producer = probe_builder(json!({"on_request_headers": [
        {"op": "resolve_queue", "vm_id": "probe-vm", "name": "events"},
        {"op": "enqueue", "id": 1, "value": "e1"}
    ]}))
    .process(&consumer.process())
    .plugin_name("producer")
    .build()
    .unwrap();
    producer
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status(&producer, "on_request_headers", "enqueue"), 0);
    assert!(
        results_of(&consumer, "on_queue_ready", "callback").is_empty(),
        "delivered asynchronously"
    );
    consumer.run_pending();
    let ready: Vec<_> = consumer
        .logs()
        .into_iter()
        .filter(|l| {
            l.message
                .contains(r#""cb":"on_queue_ready","op":"callback""#)
        })
        .collect();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].plugin, "consumer");
    assert_eq!(
        result(&consumer, "on_queue_ready", "dequeue")["value"],
        "e1"
    );
}
