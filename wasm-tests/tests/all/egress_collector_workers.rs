//! The HTTP collector sink with two Envoy workers: streams on either worker enqueue on the
//! one process-wide shared queue (keyed by `vm_id`), either worker's root may drain it, and
//! every record reaches the collector exactly once.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{EGRESS_AUDIT_ROOT_ID, egress_builder, egress_wire, status_of};

const COLLECTOR: &str = "outbound|4318||collector.audit.svc.cluster.local";

fn host() -> Host {
    let config = egress_wire(json!({
        "allowedHosts": [{"host": "api.example.com", "rule": "ServiceEntry default/api"}],
        "audit": {
            "sink": {"http": {"cluster": COLLECTOR, "authority": "collector", "batchSize": 3,
                "flushIntervalMs": 100, "maxBuffered": 100}}
        }
    }));
    egress_builder(&config, EGRESS_AUDIT_ROOT_ID)
        .workers(2)
        .build()
        .unwrap()
}

fn paths(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Records written on both workers are all delivered, none twice (shared queue semantics:
/// a dequeue hands each record to exactly one root).
#[test]
fn records_from_both_workers_reach_the_collector_exactly_once() {
    let mut h = host();
    let mut sent_paths: Vec<String> = (0..10).map(|i| format!("/{i}")).collect();
    for (i, path) in sent_paths.iter().enumerate() {
        let mut s = h
            .http_request()
            .get("api.example.com", path)
            .worker(i % 2)
            .send_headers_only()
            .unwrap();
        assert_eq!(s.id().worker, i % 2);
        assert_eq!(status_of(&s), 0, "{}", s.host_report());
        s.respond_headers(200, &[], true);
        s.finish();
        if i % 3 == 0 {
            h.run_pending();
        }
    }
    h.run_pending();
    let mut delivered = Vec::new();
    for _ in 0..20 {
        h.advance(100);
        for c in h.pending_callouts() {
            assert_eq!(c.cluster, COLLECTOR);
            delivered.extend(paths(&c.body));
            h.answer_callout(c.token, 200, &[], b"").unwrap();
        }
    }
    assert!(h.pending_callouts().is_empty(), "{}", h.report());
    delivered.sort();
    sent_paths.sort();
    assert_eq!(delivered, sent_paths, "{}", h.report());
    assert_eq!(
        h.metrics().counter("portcullis.egress.sent"),
        Some(10),
        "{}",
        h.report()
    );
    assert_eq!(
        h.metrics()
            .counter("portcullis.egress.dropped")
            .unwrap_or(0),
        0
    );
    assert_eq!(h.queue_len("portcullis.audit"), Some(0));
    assert!(h.failures().is_empty(), "{:?}", h.failures());
}
