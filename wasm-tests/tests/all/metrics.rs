//! Metrics: Envoy `context.cc defineMetric/incrementMetric/recordMetric/getMetric`.
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
fn counter_increments_and_is_readable_by_name__envoy_increment_metric() {
    let mut host = probe_host(json!({
        "on_configure": [{"op": "define_metric", "type": 0, "name": "probe.requests"}],
        "on_request_headers": [{"op": "increment_metric", "name": "probe.requests", "delta": 1}, {"op": "get_metric", "name": "probe.requests"}]
    }));
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    host.http_request()
        .get("a", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(host.metrics().counter("probe.requests"), Some(2));
    assert_eq!(
        results_of(&host, "on_request_headers", "get_metric")[1]["value"],
        2
    );
}

#[test]
fn decrementing_a_counter_is_bad_argument__envoy_increment_metric() {
    let host = probe_host(json!({"on_configure": [
        {"op": "define_metric", "type": 0, "name": "c"},
        {"op": "increment_metric", "name": "c", "delta": -1},
        {"op": "increment_metric", "name": "c", "delta": 0}
    ]}));
    let st: Vec<_> = results_of(&host, "on_configure", "increment_metric")
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        st,
        vec![BAD_ARGUMENT, BAD_ARGUMENT],
        "Envoy: counters take only offset > 0"
    );
    assert_eq!(host.metrics().counter("c"), Some(0));
}

#[test]
fn gauge_goes_up_and_down_and_record_sets_it__envoy_record_metric() {
    let host = probe_host(json!({"on_configure": [
        {"op": "define_metric", "type": 1, "name": "g"},
        {"op": "increment_metric", "name": "g", "delta": 5},
        {"op": "increment_metric", "name": "g", "delta": -2},
        {"op": "get_metric", "name": "g"},
        {"op": "record_metric", "name": "g", "value": 42}
    ]}));
    assert_eq!(result(&host, "on_configure", "get_metric")["value"], 3);
    assert_eq!(host.metrics().gauge("g"), Some(42));
}

#[test]
fn histogram_records_samples_and_cannot_be_read__envoy_get_metric() {
    let host = probe_host(json!({"on_configure": [
        {"op": "define_metric", "type": 2, "name": "h"},
        {"op": "record_metric", "name": "h", "value": 7},
        {"op": "record_metric", "name": "h", "value": 9},
        {"op": "get_metric", "name": "h"},
        {"op": "increment_metric", "name": "h", "delta": 1}
    ]}));
    assert_eq!(host.metrics().histogram("h"), Some(vec![7, 9]));
    assert_eq!(status(&host, "on_configure", "get_metric"), BAD_ARGUMENT);
    assert_eq!(
        status(&host, "on_configure", "increment_metric"),
        BAD_ARGUMENT
    );
}

#[test]
fn unknown_metric_id_is_not_found_and_bad_type_is_bad_argument__envoy_define_metric() {
    let host = probe_host(json!({"on_configure": [
        {"op": "increment_metric", "id": 77, "delta": 1},
        {"op": "get_metric", "id": 77},
        {"op": "define_metric", "type": 9, "name": "x"}
    ]}));
    assert_eq!(status(&host, "on_configure", "increment_metric"), NOT_FOUND);
    assert_eq!(status(&host, "on_configure", "get_metric"), NOT_FOUND);
    assert_eq!(status(&host, "on_configure", "define_metric"), BAD_ARGUMENT);
}

#[test]
fn a_metric_defined_on_every_worker_is_one_stat__envoy_stats_are_process_wide() {
    let mut host = probe_builder(json!({
        "on_configure": [{"op": "define_metric", "type": 0, "name": "hits"}],
        "on_request_headers": [{"op": "increment_metric", "name": "hits", "delta": 1}]
    }))
    .workers(2)
    .build()
    .unwrap();
    for _ in 0..4 {
        host.http_request()
            .get("a", "/")
            .send_headers_only()
            .unwrap();
    }
    assert_eq!(host.metrics().counter("hits"), Some(4));
    assert_eq!(host.metrics().0.len(), 1);
}
