//! The network egress filter through its .wasm: TLS passthrough allowed or closed by SNI
//! (E-3, E-4): an allowed connection is recorded when it opens and when it closes, with the
//! byte counts; a refused one once.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::egress_http::records;
use crate::fixtures::{EGRESS_AUDIT_TCP_ROOT_ID, egress_builder, egress_wire};

fn config() -> Value {
    egress_wire(json!({
        "allowedHosts": [{"host": "*.example.com", "ports": [443], "rule": "ServiceEntry default/example"}]
    }))
}

fn tcp_host(sni: Option<&str>) -> Host {
    let mut b = egress_builder(&config(), EGRESS_AUDIT_TCP_ROOT_ID);
    if let Some(sni) = sni {
        b = b.property("connection.requested_server_name", sni);
    }
    b.build().unwrap()
}

/// E-3: an allowed SNI passes through; it is recorded as it opens, before any byte, and
/// again when it closes, with the bytes both ways.
#[test]
fn allowed_sni_passes_through_and_is_audited_with_bytes() {
    let mut host = tcp_host(Some("api.example.com"));
    let mut c = host.tcp_connection().unwrap();
    assert!(c.record().closed_by_filter.is_empty(), "{:?}", c.record());
    let open = records(c.host());
    assert_eq!(open.len(), 1, "recorded at open: {open:?}");
    assert_eq!(
        (open[0]["event"].as_str(), open[0]["decision"].as_str()),
        (Some("open"), Some("allowed"))
    );
    assert_eq!(open[0]["sni"], "api.example.com");
    assert!(open[0]["bytes_in"].is_null() && open[0]["duration_ms"].is_null());
    c.downstream_data(&[0u8; 300], false);
    c.upstream_data(&[0u8; 1200], false);
    c.close_downstream();
    c.close_upstream();
    let r = records(&host);
    assert_eq!(r.len(), 2, "{}", host.report());
    assert_ne!(r[0]["id"], r[1]["id"], "each record has its own id");
    let r = &r[1];
    assert_eq!(r["event"], "close");
    assert_eq!(r["protocol"], "tcp");
    assert_eq!(r["decision"], "allowed");
    assert_eq!(r["sni"], "api.example.com");
    assert_eq!(r["rule"], "ServiceEntry default/example");
    assert_eq!(
        (r["bytes_in"].as_u64(), r["bytes_out"].as_u64()),
        (Some(300), Some(1200))
    );
    assert_eq!(host.metrics().counter("portcullis.egress.allowed"), Some(1));
}

/// E-4: an unlisted SNI is closed before tcp_proxy connects, and recorded as denied.
#[test]
fn unlisted_sni_is_closed_and_audited() {
    let mut host = tcp_host(Some("evil.org"));
    let mut c = host.tcp_connection().unwrap();
    assert!(
        !c.record().closed_by_filter.is_empty() || c.record().closed_by_host,
        "{:?}",
        c.record()
    );
    c.close_downstream();
    c.close_upstream();
    let r = records(&host);
    assert_eq!(r.len(), 1, "a refused connection is recorded once");
    assert_eq!(
        (
            r[0]["event"].as_str(),
            r[0]["decision"].as_str(),
            r[0]["rule"].as_str()
        ),
        (Some("close"), Some("denied"), Some("unknown_host"))
    );
    assert_eq!(host.metrics().counter("portcullis.egress.denied"), Some(1));
}

/// E-4: no SNI (BlackHoleCluster in Istio) is closed as missing_sni.
#[test]
fn missing_sni_is_closed() {
    let mut host = tcp_host(None);
    let mut c = host.tcp_connection().unwrap();
    c.close_downstream();
    c.close_upstream();
    let r = records(&host);
    assert_eq!(r[0]["rule"], "missing_sni", "{}", host.report());
}
