//! CORS preflights from an origin the policy does not match (V-24): forwarded upstream by
//! default (Istio's `unmatchedPreflights: FORWARD`); with `ignoreUnmatchedPreflights: true`
//! answered locally as the core decides (`CorsPreflight { headers: [] }`): 200, no headers, no
//! body, so the browser refuses the actual request.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{CLUSTER_HEADER, cluster, route, router, status_of, to, wire};

fn config(ignore: bool) -> Value {
    let extra = json!({"cors": {"allowOrigins": [{"exact": "https://app.example.com"}],
        "allowMethods": ["GET", "POST"], "allowHeaders": ["x-token"], "maxAgeS": 600,
        "allowCredentials": true, "ignoreUnmatchedPreflights": ignore}});
    wire(
        &["*"],
        vec![route("r", json!({}), to(&cluster("a")), extra)],
    )
}

fn preflight<'h>(host: &'h mut Host, origin: &str) -> portcullis_wasm_tests::HttpStream<'h> {
    host.http_request()
        .header(":method", "OPTIONS")
        .header(":scheme", "https")
        .header(":path", "/")
        .header(":authority", "api.example.com")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send_headers_only()
        .unwrap()
}

/// `ignoreUnmatchedPreflights: true`: the preflight is answered locally, 200 with no CORS
/// header (no header at all besides what Envoy adds) and an empty body; nothing goes upstream.
#[test]
fn ignored_unmatched_preflight_is_answered_locally_without_cors_headers() {
    let mut host = router(&config(true));
    let s = preflight(&mut host, "https://evil.example.com");
    let r = s
        .local_response()
        .unwrap_or_else(|| panic!("{}", s.host_report()));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{:?}", r.body_str());
    let cors: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{:?}", r.headers);
    assert!(s.upstream_cluster().is_none());
    s.finish();
    assert_eq!(
        host.metrics().counter("portcullis.router.answered"),
        Some(1)
    );
    // A matching origin still gets the full preflight answer.
    let s = preflight(&mut host, "https://app.example.com");
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "access-control-allow-origin" && v == "https://app.example.com"),
        "{:?}",
        r.headers
    );
}

/// `ignoreUnmatchedPreflights: false` (the default): the unmatched preflight is forwarded to
/// the route's cluster like any request, and the upstream's answer gets no CORS header.
#[test]
fn unmatched_preflight_is_forwarded_upstream_by_default() {
    let mut host = router(&config(false));
    let mut s = preflight(&mut host, "https://evil.example.com");
    assert_eq!(status_of(&s), 0, "{}", s.host_report());
    assert_eq!(s.upstream_cluster(), Some(cluster("a")));
    assert_eq!(
        s.request_header(CLUSTER_HEADER).as_deref(),
        Some(cluster("a").as_str())
    );
    assert_eq!(s.request_header(":method").as_deref(), Some("OPTIONS"));
    s.respond_headers(204, &[], true);
    assert!(
        !s.response_headers()
            .iter()
            .any(|(k, _)| k.starts_with("access-control-")),
        "{:?}",
        s.response_headers()
    );
    s.finish();
    assert_eq!(
        host.metrics()
            .counter("portcullis.router.answered")
            .unwrap_or(0),
        0
    );
}
