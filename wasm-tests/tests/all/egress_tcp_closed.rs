//! The network egress filter under `failureMode: closed` with an HTTP collector: while the
//! collector fails and the buffer is full, a new connection to an allowed SNI is closed before
//! tcp_proxy connects, and its record says `denied` / `audit_unavailable`; once the collector
//! recovers, connections are allowed again. Each allowed connection makes two records (its
//! `open` and its `close`), so two connections fill the four-record buffer.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::{Host, HttpCallout};
use serde_json::{Value, json};

use crate::egress_http::records;
use crate::fixtures::{EGRESS_AUDIT_TCP_ROOT_ID, egress_builder, egress_wire};

const COLLECTOR: &str = "outbound|4318||collector.audit.svc.cluster.local";

fn config() -> Value {
    egress_wire(json!({
        "allowedHosts": [{"host": "*.example.com", "ports": [443], "rule": "ServiceEntry default/example"}],
        "audit": {
            "failureMode": "closed",
            "sink": {"http": {"cluster": COLLECTOR, "authority": "collector", "batchSize": 2,
                "flushIntervalMs": 100, "maxBuffered": 4, "initialBackoffMs": 200,
                "maxBackoffMs": 800}}
        }
    }))
}

fn tcp_host() -> Host {
    egress_builder(&config(), EGRESS_AUDIT_TCP_ROOT_ID)
        .property("connection.requested_server_name", "api.example.com")
        .build()
        .unwrap()
}

/// Whether the filter closed the connection before tcp_proxy connected.
fn closed(host: &mut Host) -> bool {
    let mut c = host.tcp_connection().unwrap();
    let r = c.record();
    let refused = !r.closed_by_filter.is_empty() || r.closed_by_host;
    if !refused {
        c.downstream_data(&[0u8; 10], false);
        c.upstream_data(&[0u8; 20], false);
    }
    c.close_downstream();
    c.close_upstream();
    host.run_pending();
    refused
}

fn counter(host: &Host, name: &str) -> i64 {
    host.metrics()
        .counter(&format!("portcullis.egress.{name}"))
        .unwrap_or(0)
}

fn decisions(c: &HttpCallout) -> Vec<(String, String)> {
    String::from_utf8_lossy(&c.body)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["decision"].as_str().unwrap().to_string(),
                v["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// E-5 (closed): collector failing + buffer full closes a new allowed-SNI connection, recorded
/// as `denied` / `audit_unavailable` (logged, not queued, like the HTTP filter: it must not
/// displace a waiting record); after the collector recovers, new connections pass.
#[test]
fn closed_failure_mode_closes_new_connections_while_the_collector_fails_and_the_buffer_is_full() {
    let mut h = tcp_host();
    assert!(!closed(&mut h), "{}", h.report());
    h.advance(1);
    let c = h.pending_callouts();
    assert_eq!(c.len(), 1, "{}", h.report());
    h.answer_callout(c[0].token, 503, &[], b"").unwrap();
    assert!(!closed(&mut h), "buffer not full yet: {}", h.report());
    assert!(
        closed(&mut h),
        "buffer full, collector failing: {}",
        h.report()
    );
    assert_eq!(counter(&h, "refused_audit_unavailable"), 1);
    assert_eq!(counter(&h, "allowed"), 2);
    assert_eq!(
        counter(&h, "dropped"),
        0,
        "the refusal did not displace a record"
    );
    let r = records(&h);
    assert_eq!(r.len(), 1, "{:?}", h.log_messages());
    assert_eq!(r[0]["protocol"], "tcp");
    assert_eq!(r[0]["sni"], "api.example.com");
    assert_eq!(
        (r[0]["decision"].as_str(), r[0]["rule"].as_str()),
        (Some("denied"), Some("audit_unavailable")),
        "{:?}",
        r[0]
    );
    // Recovery: the retry (after the 200 ms backoff, on a tick) delivers both waiting records.
    h.advance(350);
    let c = h.pending_callouts();
    assert_eq!(c.len(), 1, "{}", h.report());
    assert_eq!(
        decisions(&c[0]),
        [
            (
                "allowed".to_string(),
                "ServiceEntry default/example".to_string()
            ),
            (
                "allowed".to_string(),
                "ServiceEntry default/example".to_string()
            )
        ]
    );
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(counter(&h, "sent"), 2);
    assert!(!closed(&mut h), "recovered: {}", h.report());
    assert_eq!(counter(&h, "allowed"), 3);
    assert_eq!(counter(&h, "refused_audit_unavailable"), 1);
}
