//! Extreme values and unexpected states must not trap a filter (V-27, and the SDK's panics):
//! a root whose configuration was refused still returns a stream context (the SDK panics on
//! `None`), which refuses; a fault delay too large for the clock never wraps to "now".
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::{Phase, Step};
use serde_json::json;

use crate::fixtures::{
    EGRESS_AUDIT_ROOT_ID, EGRESS_AUDIT_TCP_ROOT_ID, cluster, egress_builder, route, router,
    router_builder, to, wire,
};

/// A wire config every filter refuses (an unknown wire version).
fn refused() -> serde_json::Value {
    json!({"version": 999, "configVersion": "bad", "listeners": []})
}

/// An egress root without a configuration refuses HTTP with 503 and says why, instead of
/// returning no context (which the SDK turns into a panic and a trapped VM).
#[test]
fn an_unconfigured_egress_root_refuses_http_without_trapping() {
    let mut host = egress_builder(&refused(), EGRESS_AUDIT_ROOT_ID)
        .serve_unconfigured(true)
        .build()
        .unwrap();
    assert_eq!(host.configured(), vec![false]);
    let s = host
        .http_request()
        .get("api.example.com", "/")
        .send_headers_only()
        .unwrap();
    let reply = s
        .local_response()
        .unwrap_or_else(|| panic!("{}", s.host_report()));
    assert_eq!(reply.status, 503);
    assert!(
        String::from_utf8_lossy(&reply.body).contains("no valid configuration"),
        "{:?}",
        reply
    );
    assert!(host.failures().is_empty(), "{:?}", host.failures());
}

/// The same for a TLS passthrough connection: closed, no trap.
#[test]
fn an_unconfigured_egress_root_closes_tcp_without_trapping() {
    let mut host = egress_builder(&refused(), EGRESS_AUDIT_TCP_ROOT_ID)
        .serve_unconfigured(true)
        .build()
        .unwrap();
    let closed = host.tcp_connection().unwrap().record().closed_by_filter;
    assert!(!closed.is_empty(), "the connection stays open");
    assert!(host.failures().is_empty(), "{:?}", host.failures());
}

/// The router without a configuration refuses too (it has no routes to follow).
#[test]
fn an_unconfigured_router_refuses_without_trapping() {
    let mut host = router_builder(&refused())
        .serve_unconfigured(true)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("a.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(503));
    assert!(host.failures().is_empty(), "{:?}", host.failures());
}

/// V-27: a delay as large as the wire format can carry keeps the request paused; its end
/// (now + delay) saturates instead of wrapping to a time already past.
#[test]
fn a_delay_too_large_for_the_clock_never_ends_early() {
    let mut host = router(&wire(
        &["*"],
        vec![route(
            "r",
            json!({}),
            to(&cluster("a")),
            json!({"fault": {"delay": {"fixedDelayMs": u64::MAX, "percentage": 100.0}}}),
        )],
    ));
    let mut s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.request_step(), Step::Paused(Phase::Headers));
    s.host().advance(10);
    assert_eq!(
        s.request_step(),
        Step::Paused(Phase::Headers),
        "{}",
        s.host_report()
    );
    assert!(host.failures().is_empty(), "{:?}", host.failures());
}
