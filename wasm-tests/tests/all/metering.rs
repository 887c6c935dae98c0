//! Fuel, memory, failure policies and strict mode.
#![allow(
    non_snake_case,
    reason = "test names end in __<the cpp-host or Envoy source they reproduce>"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use portcullis_wasm_tests::{FailurePolicy, ReplySource, Step};
use serde_json::json;

use crate::support::*;

#[test]
fn fuel_per_request_is_measured_and_grows_with_work() {
    let mut host = probe_host(json!({"on_request_headers": [{"op": "burn", "n": 10000}]}));
    let light = {
        let s = host
            .http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
        s.finish().fuel
    };
    let mut heavy_host = probe_host(json!({"on_request_headers": [{"op": "burn", "n": 100000}]}));
    let heavy = {
        let s = heavy_host
            .http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
        s.finish().fuel
    };
    assert!(light > 10_000, "{light}");
    assert!(heavy > light + 90_000 * 3, "light={light} heavy={heavy}");
    println!("fuel per request: light={light} heavy={heavy}");
}

#[test]
fn running_out_of_fuel_traps_and_fails_closed() {
    let mut host = probe_builder(json!({"on_request_headers": [{"op": "burn", "n": 10000000}]}))
        .fuel_per_callback(1_000_000)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.local_response().map(|r| (r.status, r.source)),
        Some((503, ReplySource::VmFailure))
    );
    assert!(
        host.failures()[0].message.contains("fuel"),
        "{:?}",
        host.failures()
    );
}

#[test]
fn memory_high_water_stays_flat_across_requests_and_grows_with_a_leak() {
    let mut host = probe_host(
        json!({"on_request_headers": [{"op": "alloc", "bytes": 65536}, {"op": "get_pairs", "map": 0}]}),
    );
    for _ in 0..20 {
        host.http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap()
            .finish();
    }
    let after_warmup = host.memory_high_water(0);
    for _ in 0..200 {
        host.http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap()
            .finish();
    }
    assert_eq!(
        host.memory_high_water(0),
        after_warmup,
        "no leak per request"
    );
    host.clear_logs();

    let mut leaky = probe_host(json!({"on_request_headers": [{"op": "leak", "bytes": 65536}]}));
    let start = leaky.memory_high_water(0);
    for _ in 0..50 {
        leaky
            .http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap()
            .finish();
    }
    assert!(
        leaky.memory_high_water(0) >= start + 50 * 65536,
        "a leak shows"
    );
    println!(
        "memory high-water: flat={after_warmup} leaky={}",
        leaky.memory_high_water(0)
    );
}

#[test]
fn memory_cap_stops_growth_and_traps__cpp_host_1_gib_limit() {
    let mut host = probe_builder(json!({"on_request_headers": [{"op": "leak", "bytes": 8388608}]}))
        .memory_limit(16 << 20)
        .build()
        .unwrap();
    let mut failed = false;
    for _ in 0..4 {
        let s = host
            .http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
        failed |= s.local_response().is_some();
    }
    assert!(failed, "{host:#?}");
    assert!(host.memory_high_water(0) <= 16 << 20);
    assert!(host.vm_failed(0).is_some());
}

fn trapping_host(policy: FailurePolicy) -> portcullis_wasm_tests::Host {
    probe_builder(json!({"on_request_body": [{"op": "trap"}]}))
        .failure_policy(policy)
        .clusters(["backend"])
        .route_cluster("backend")
        .build()
        .unwrap()
}

#[test]
fn fail_closed_answers_503_for_this_and_later_requests__envoy_failure_policy() {
    let mut host = trapping_host(FailurePolicy::FailClosed);
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    assert!(matches!(s.send_body(b"x", true), Step::LocalResponse(r) if r.status == 503));
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(503));
}

#[test]
fn fail_open_skips_the_filter__envoy_failure_policy() {
    let mut host = trapping_host(FailurePolicy::FailOpen);
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    assert_eq!(s.send_body(b"x", true), Step::Continued);
    assert_eq!(s.upstream_body(), b"x");
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert!(s.local_response().is_none());
    assert_eq!(s.upstream_cluster().as_deref(), Some("backend"));
}

#[test]
fn fail_reload_answers_503_then_serves_from_a_new_vm__envoy_pr_36456() {
    let mut host = trapping_host(FailurePolicy::FailReload);
    let mut s = host.http_request().get("a", "/").send_headers().unwrap();
    assert!(matches!(s.send_body(b"x", true), Step::LocalResponse(r) if r.status == 503));
    // Within the reload backoff (Envoy ReloadConfig, base 1 s) the failed VM still fails closed.
    host.advance(999);
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(503));
    host.advance(1);
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert!(s.local_response().is_none());
    assert_eq!(host.reloads, 1);
    assert!(host.vm_failed(0).is_none());
    assert_eq!(
        results_of(&host, "on_configure", "callback").len(),
        2,
        "the new VM was configured"
    );
}

#[test]
fn strict_mode_traps_on_a_host_call_the_test_did_not_allow() {
    let mut host = probe_builder(
        json!({"on_request_headers": [{"op": "get_header", "map": 0, "key": ":path"}]}),
    )
    .strict([
        "proxy_log",
        "proxy_get_buffer_bytes",
        "proxy_get_buffer_status",
        "proxy_set_effective_context",
        "proxy_get_property",
        "fd_write",
    ])
    .build()
    .unwrap();
    let s = host
        .http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(503));
    let v = host.strict_violations();
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("proxy_get_header_map_value"), "{v:?}");
}

#[test]
fn memory_high_water_is_flat_over_10k_requests_and_fuel_per_request_is_stable() {
    let mut host = probe_host(json!({
        "on_request_headers": [{"op": "get_header", "map": 0, "key": ":path"}, {"op": "add_header", "map": 0, "key": "x-a", "value": "1"}],
        "on_log": [{"op": "get_pairs", "map": 0}]
    }));
    let mut fuel = Vec::new();
    for i in 0..10_000 {
        let mut s = host
            .http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
        s.respond_headers(200, &[], true);
        fuel.push(s.finish().fuel);
        if i == 99 {
            host.clear_logs();
        }
        if i % 1000 == 999 {
            host.clear_logs();
        }
    }
    let warm = host.memory_high_water(0);
    assert_eq!(host.memory_size(0), warm);
    let (min, max) = (
        fuel[100..].iter().min().unwrap(),
        fuel[100..].iter().max().unwrap(),
    );
    assert!(
        max - min < max / 10,
        "fuel per request varies: {min}..{max}"
    );
    println!("10k requests: memory high-water {warm} bytes, fuel per request {min}..{max}");
    let costs = host.callback_costs(0);
    let last: Vec<_> = costs
        .iter()
        .rev()
        .take(5)
        .map(|c| (c.callback, c.fuel))
        .collect();
    println!("last request per callback: {last:?}");
}
