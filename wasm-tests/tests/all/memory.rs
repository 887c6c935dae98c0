//! Linear memory of the router's VM stays flat: after a warm-up, 10 000 more requests of
//! every outcome (routed, rewritten, redirected, answered, refused) do not raise the high-water.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::json;

use crate::fixtures::{cluster, route, router, to, wire};

fn mixed(host: &mut Host, i: usize) {
    let (authority, path) = match i % 5 {
        0 => ("a.example.com", "/api/v1/items?x=1"),
        1 => ("a.example.com", "/old"),
        2 => ("a.example.com", "/health"),
        3 => ("unknown.example.com", "/"),
        _ => ("a.example.com", "/static/app.js"),
    };
    let mut s = host
        .http_request()
        .get(authority, path)
        .header("x-user", "u")
        .send_headers_only()
        .unwrap();
    if s.local_response().is_none() {
        s.respond_headers(200, &[("server", "x")], true);
    }
    s.finish();
}

/// No growth over 10 000 requests once warmed up (the high-water after 1 000 requests is the
/// high-water after 11 000).
#[test]
fn router_linear_memory_does_not_grow_over_10000_requests() {
    let config = wire(
        &["a.example.com"],
        vec![
            route(
                "api",
                json!({"uri": {"prefix": "/api/"}, "headers": {"x-user": {"present": true}}}),
                json!({"route": {"destinations": [{"cluster": cluster("a"), "weight": 50}, {"cluster": cluster("b"), "weight": 50}],
                    "rewrite": {"uri": "/"}}}),
                json!({"headers": {"request": {"set": {"x-a": "1"}}, "response": {"remove": ["server"]}}}),
            ),
            route(
                "old",
                json!({"uri": {"exact": "/old"}}),
                json!({"redirect": {"uri": "/new"}}),
                json!({}),
            ),
            route(
                "health",
                json!({"uri": {"exact": "/health"}}),
                json!({"directResponse": {"status": 200, "body": "ok"}}),
                json!({}),
            ),
            route("rest", json!({}), to(&cluster("a")), json!({})),
        ],
    );
    let mut host = router(&config);
    for i in 0..1000 {
        mixed(&mut host, i);
    }
    let warm = host.memory_high_water(0);
    for i in 0..10_000 {
        mixed(&mut host, i);
    }
    let after = host.memory_high_water(0);
    println!("router linear memory: warm {warm} B, after 10 000 more requests {after} B");
    assert_eq!(after, warm, "linear memory grew");
    assert_eq!(host.memory_size(0), after);
    assert!(host.failures().is_empty());
}
