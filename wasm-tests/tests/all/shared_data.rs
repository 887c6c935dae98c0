//! Shared data: cpp-host `src/shared_data.cc` (CAS, per-vm_id, process-wide).
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
fn cas_zero_is_unconditional_and_every_write_gets_a_new_cas__cpp_host_shared_data_cc() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "set_shared", "key": "k", "value": "1", "cas": 0},
        {"op": "get_shared", "key": "k"},
        {"op": "set_shared", "key": "k", "value": "2", "cas": 0},
        {"op": "get_shared", "key": "k"}
    ]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let sets = results_of(&host, "on_request_headers", "set_shared");
    assert!(sets.iter().all(|s| s["status"] == 0));
    let gets = results_of(&host, "on_request_headers", "get_shared");
    assert_eq!(gets[0]["value"]["value"], "1");
    assert_eq!(gets[1]["value"]["value"], "2");
    assert_ne!(gets[0]["value"]["cas"], gets[1]["value"]["cas"]);
    assert_ne!(gets[0]["value"]["cas"], 0);
}

#[test]
fn stale_cas_is_cas_mismatch__cpp_host_shared_data_cc() {
    let mut host = probe_host(json!({"on_request_headers": [
        {"op": "set_shared", "key": "k", "value": "1", "cas": 0},
        {"op": "set_shared", "key": "k", "value": "2", "cas": 0},
        {"op": "set_shared", "key": "k", "value": "3", "cas": 1},
        {"op": "set_shared", "key": "k", "value": "4", "cas": 2},
        {"op": "get_shared", "key": "k"}
    ]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let sets: Vec<_> = results_of(&host, "on_request_headers", "set_shared")
        .iter()
        .map(|s| s["status"].as_u64().unwrap())
        .collect();
    assert_eq!(sets, vec![0, 0, CAS_MISMATCH, 0]);
    assert_eq!(host.shared_data("k").unwrap().0, b"4");
}

#[test]
fn missing_key_is_not_found__cpp_host_shared_data_cc() {
    let mut host = probe_host(json!({"on_request_headers": [{"op": "get_shared", "key": "nope"}]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status(&host, "on_request_headers", "get_shared"), NOT_FOUND);
}

#[test]
fn shared_data_is_visible_across_workers_of_the_same_vm_id__envoy_vm_per_worker() {
    let mut host = probe_builder(json!({
        "on_request_headers": [{"op": "get_shared", "key": "w"}, {"op": "set_shared", "key": "w", "value": "from-worker", "cas": 0}]
    }))
    .workers(2)
    .build()
    .unwrap();
    host.http_request()
        .worker(0)
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    host.http_request()
        .worker(1)
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    let gets = results_of(&host, "on_request_headers", "get_shared");
    assert_eq!(gets[0]["status"], NOT_FOUND);
    assert_eq!(gets[1]["value"]["value"], "from-worker");
    let workers: Vec<usize> = host
        .logs()
        .iter()
        .filter(|l| l.message.contains("get_shared"))
        .map(|l| l.worker)
        .collect();
    assert_eq!(workers, vec![0, 1]);
}

#[test]
fn test_can_seed_shared_data_for_the_vm_id() {
    let mut host =
        probe_host(json!({"on_request_headers": [{"op": "get_shared", "key": "seeded"}]}));
    host.set_shared_data("seeded", b"yes");
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        result(&host, "on_request_headers", "get_shared")["value"]["value"],
        "yes"
    );
}

#[test]
fn plugins_in_one_process_share_data_by_vm_id_only__cpp_host_shared_data_cc() {
    let writer = probe_builder(json!({"on_configure": [
        {"op": "set_shared", "key": "k", "value": "from-a", "cas": 0}
    ]}))
    .build()
    .unwrap();
    let same_vm = probe_builder(json!({"on_configure": [{"op": "get_shared", "key": "k"}]}))
        .process(&writer.process())
        .plugin_name("b")
        .build()
        .unwrap();
    let other_vm = probe_builder(json!({"on_configure": [{"op": "get_shared", "key": "k"}]}))
        .process(&writer.process())
        .vm_id("other-vm")
        .plugin_name("c")
        .build()
        .unwrap();
    let gets = results_of(&other_vm, "on_configure", "get_shared");
    // Logs are process-wide; the plugin field tells them apart.
    let b = other_vm
        .logs()
        .into_iter()
        .filter(|l| l.message.contains("get_shared"))
        .collect::<Vec<_>>();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].plugin, "b");
    assert_eq!(gets[0]["value"]["value"], "from-a");
    assert_eq!(
        gets[1]["status"], NOT_FOUND,
        "another vm_id is another namespace"
    );
    assert_ne!(same_vm.host_id(), other_vm.host_id());
}
