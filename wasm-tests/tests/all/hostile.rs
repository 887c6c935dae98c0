//! Hostile requests through the router and egress .wasm: huge and odd headers, header values
//! that are not UTF-8 (the glue reads bytes and converts lossily), no `:authority`,
//! absolute-form and very long paths; and recovery from a trap under FAIL_RELOAD.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::{FailurePolicy, Host};
use serde_json::{Value, json};

use crate::fixtures::{
    EGRESS_AUDIT_ROOT_ID, cluster, egress_builder, egress_wire, route, router, router_builder,
    status_of, to, wire,
};

/// Routes: `x-user` regex (so the router reads the whole header map), then `/` prefix.
fn config() -> Value {
    wire(
        &["good.example.com"],
        vec![
            route(
                "user",
                json!({"headers": {"x-user": {"regex": ".*bob"}}}),
                to(&cluster("user")),
                json!({}),
            ),
            route(
                "slash",
                json!({"uri": {"prefix": "/"}}),
                to(&cluster("app")),
                json!({}),
            ),
        ],
    )
}

fn assert_healthy(host: &Host) {
    assert!(host.failures().is_empty(), "{:?}", host.failures());
    assert!(host.vm_failed(0).is_none());
}

/// A 64 KiB header value and 500 extra headers are read and routed without a trap.
#[test]
fn huge_and_numerous_headers_are_routed() {
    let mut host = router(&config());
    let big = "v".repeat(64 * 1024);
    let mut r = host
        .http_request()
        .get("good.example.com", "/")
        .header("x-big", &big);
    for i in 0..500 {
        r = r.header(&format!("x-h{i}"), "1");
    }
    let s = r.header("x-user", "alice").send_headers_only().unwrap();
    assert_eq!(
        s.upstream_cluster(),
        Some(cluster("app")),
        "{}",
        s.host_report()
    );
    assert_healthy(&host);
}

/// A header value that is not UTF-8 is converted lossily and still matched; no trap.
#[test]
fn invalid_utf8_header_values_are_read_lossily() {
    let mut host = router(&config());
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .header_bytes("x-user", &[0xff, 0xfe, b'b', b'o', b'b'])
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.upstream_cluster(),
        Some(cluster("user")),
        "{}",
        s.host_report()
    );
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .header_bytes("x-user", &[0xc3])
        .header_bytes("x-other", &[0x80; 16])
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("app")));
    assert_healthy(&host);
}

/// The egress record of a request with a non-UTF-8 included header holds the lossy value.
#[test]
fn invalid_utf8_header_in_an_egress_record_is_lossy() {
    let config = egress_wire(json!({"allowedHosts": [{"host": "*", "rule": "any"}],
        "audit": {"includeHeaders": ["x-team"]}}));
    let mut host = egress_builder(&config, EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap();
    host.http_request()
        .get("api.example.com", "/")
        .header_bytes("x-team", &[b'a', 0xff])
        .send_headers_only()
        .unwrap()
        .finish();
    let records = crate::egress_http::records(&host);
    assert_eq!(records[0]["headers"]["x-team"], "a\u{fffd}");
    assert!(host.failures().is_empty());
}

/// No `:authority` is 400, counted as a refusal.
#[test]
fn missing_authority_is_400() {
    let mut host = router(&config());
    let s = host
        .http_request()
        .header(":method", "GET")
        .header(":scheme", "https")
        .header(":path", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 400);
    assert_eq!(host.metrics().counter("portcullis.router.refused"), Some(1));
}

/// An absolute-form `:path` does not pick the host (the `:authority` does) and does not match
/// a `/` prefix: 404, never a route to the host named in the path.
#[test]
fn absolute_form_path_neither_picks_the_host_nor_matches_prefix_routes() {
    let mut host = router(&config());
    let s = host
        .http_request()
        .get("good.example.com", "http://evil.example.com/x")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 404);
    let s = host
        .http_request()
        .get("evil.example.com", "http://good.example.com/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 404);
    assert_healthy(&host);
}

/// A 256 KiB path, and paths with control bytes, dot segments and encoded slashes, are
/// matched and routed without a trap.
#[test]
fn very_long_and_odd_paths_are_handled() {
    let mut host = router(&config());
    let long = format!("/{}", "a/".repeat(128 * 1024));
    for path in [
        long.as_str(),
        "/\u{1}\u{7f}",
        "/../../etc/passwd",
        "/a%2Fb?%00=1#frag",
        "/?",
        "/#",
    ] {
        let s = host
            .http_request()
            .get("good.example.com", path)
            .send_headers_only()
            .unwrap();
        assert_eq!(s.upstream_cluster(), Some(cluster("app")), "{:.40}", path);
    }
    assert_healthy(&host);
}

/// Odd header shapes: empty values, repeated pseudo-free headers, a Host with only a port.
#[test]
fn odd_header_shapes_do_not_trap() {
    let mut host = router(&config());
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .header("x-user", "")
        .header("x-user", "")
        .header("", "nameless")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("app")));
    for authority in [":80", ".", "[::1]:80", "good.example.com.", "*"] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        assert!(matches!(status_of(&s), 400 | 404 | 0), "{authority}");
    }
    assert_healthy(&host);
}

/// A callback that runs out of fuel traps the VM; under FAIL_RELOAD that request gets 503
/// and, after the reload backoff, a fresh VM serves with the same config.
#[test]
fn a_trap_is_answered_503_and_a_fresh_vm_serves_after_reload() {
    let mut probe = router(&config());
    let normal = probe
        .http_request()
        .get("good.example.com", "/")
        .header("x-user", "alice")
        .send_headers_only()
        .unwrap()
        .fuel();
    let mut host = router_builder(&config())
        .failure_policy(FailurePolicy::FailReload)
        .fuel_per_callback(normal * 4)
        .build()
        .unwrap();
    let heavy = "x".repeat(512 * 1024);
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .header("x-user", &heavy)
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 503, "{}", s.host_report());
    assert!(host.vm_failed(0).is_some());
    host.advance(1000);
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .header("x-user", "bob")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.upstream_cluster(),
        Some(cluster("user")),
        "{}",
        s.host_report()
    );
    assert_eq!(host.reloads, 1);
}
