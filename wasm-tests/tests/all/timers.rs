//! Tick timers on the virtual clock.
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
fn tick_fires_every_period_on_the_virtual_clock__cpp_host_on_tick() {
    let mut host = probe_host(
        json!({"on_configure": [{"op": "set_tick", "ms": 100}], "on_tick": [{"op": "time"}]}),
    );
    assert_eq!(host.tick_period(0), Some(100));
    host.advance(99);
    assert!(results_of(&host, "on_tick", "callback").is_empty());
    host.advance(151);
    let times: Vec<u64> = results_of(&host, "on_tick", "time")
        .iter()
        .map(|r| r["value"].as_u64().unwrap())
        .collect();
    assert_eq!(times.len(), 2);
    assert_eq!(
        times[1] - times[0],
        100_000_000,
        "time is frozen at each tick's due time"
    );
    assert_eq!(host.now_ms(), 250);
}

#[test]
fn tick_period_zero_disables_the_timer__spec_set_tick_period() {
    let mut host = probe_host(
        json!({"on_configure": [{"op": "set_tick", "ms": 10}], "on_tick": [{"op": "set_tick", "ms": 0}]}),
    );
    host.advance(100);
    assert_eq!(results_of(&host, "on_tick", "callback").len(), 1);
    assert_eq!(host.tick_period(0), None);
}

#[test]
fn each_worker_has_its_own_tick__envoy_vm_per_worker() {
    let mut host = probe_builder(json!({"on_configure": [{"op": "set_tick", "ms": 50}]}))
        .workers(3)
        .build()
        .unwrap();
    host.advance(100);
    let ticks: Vec<usize> = host
        .logs()
        .into_iter()
        .filter(|l| l.message.contains("\"on_tick\""))
        .map(|l| l.worker)
        .collect();
    assert_eq!(ticks.len(), 6);
    for w in 0..3 {
        assert_eq!(ticks.iter().filter(|x| **x == w).count(), 2);
    }
}

#[test]
fn set_tick_from_a_stream_applies_to_its_root__envoy_context_cc() {
    let mut host = probe_host(json!({"on_request_headers": [{"op": "set_tick", "ms": 20}]}));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(host.tick_period(0), Some(20));
    host.advance(20);
    let t = result(&host, "on_tick", "callback");
    assert_eq!(t["value"]["context"], host.root_context(0));
}
