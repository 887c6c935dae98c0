//! Route actions through the .wasm: weighted destinations (V-18), redirects (V-19), direct
//! responses (V-20), rewrites (V-21), header operations (V-22), timeout, retries and CORS (V-24).
#![allow(clippy::unwrap_used, reason = "test code")]

use serde_json::{Value, json};

use portcullis_core::contract::OWN_RETRIES_HEADER;
use portcullis_core::wire::Retries;

use crate::fixtures::{CLUSTER_HEADER, cluster, route, router, status_of, to, wire};

fn one(matcher: Value, action: Value, extra: Value) -> Value {
    wire(&["*"], vec![route("r", matcher, action, extra)])
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// V-18: 2000 requests over 70/20/10 weights land within 5 % of each share; weight 0 gets none.
#[test]
fn weighted_destinations_split_traffic_by_weight() {
    let dests = json!([
        {"cluster": cluster("a"), "weight": 70},
        {"cluster": cluster("b"), "weight": 20},
        {"cluster": cluster("c"), "weight": 10},
        {"cluster": cluster("never"), "weight": 0}
    ]);
    let mut host = router(&one(
        json!({}),
        json!({"route": {"destinations": dests}}),
        json!({}),
    ));
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..2000 {
        let s = host
            .http_request()
            .get("h", &format!("/{i}"))
            .send_headers_only()
            .unwrap();
        *counts.entry(s.upstream_cluster().unwrap()).or_default() += 1;
        s.finish();
    }
    let share = |c: &str| counts.get(&cluster(c)).copied().unwrap_or(0);
    assert!((1300..=1500).contains(&share("a")), "{counts:?}");
    assert!((300..=500).contains(&share("b")), "{counts:?}");
    assert!((100..=300).contains(&share("c")), "{counts:?}");
    assert_eq!(share("never"), 0, "{counts:?}");
}

/// V-19: redirect with uri, authority, scheme, port and code; the query string is kept.
#[test]
fn redirect_answers_locally_with_the_location() {
    let action = json!({"redirect": {"uri": "/new", "authority": "other.example.com", "scheme": "https", "port": 8443, "code": 302}});
    let mut host = router(&one(json!({}), action, json!({})));
    let s = host
        .http_request()
        .get("h.example.com", "/old?x=1")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(
        header(&r.headers, "location"),
        Some("https://other.example.com:8443/new?x=1")
    );
    assert_eq!(
        host.metrics().counter("portcullis.router.redirected"),
        Some(1)
    );
}

/// V-19: the default redirect code is 301; only the path changes.
#[test]
fn redirect_defaults_to_301_and_keeps_the_host() {
    let mut host = router(&one(
        json!({}),
        json!({"redirect": {"uri": "/b"}}),
        json!({}),
    ));
    let s = host
        .http_request()
        .get("h.example.com", "/a")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(
        header(&r.headers, "location"),
        Some("https://h.example.com/b")
    );
}

/// V-20: direct response status and body, with the route's response headers.
#[test]
fn direct_response_answers_with_status_body_and_headers() {
    let extra = json!({"headers": {"response": {"set": {"x-served-by": "portcullis"}}}});
    let mut host = router(&one(
        json!({}),
        json!({"directResponse": {"status": 418, "body": "teapot"}}),
        extra,
    ));
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (418, "teapot"));
    assert_eq!(header(&r.headers, "x-served-by"), Some("portcullis"));
    assert_eq!(
        host.metrics().counter("portcullis.router.answered"),
        Some(1)
    );
}

/// V-21: a uri rewrite replaces the matched prefix, keeps the query, and records the original.
#[test]
fn uri_rewrite_replaces_the_matched_prefix() {
    let action = json!({"route": {"destinations": [{"cluster": cluster("a"), "weight": 1}], "rewrite": {"uri": "/v2/"}}});
    let mut host = router(&one(json!({"uri": {"prefix": "/v1/"}}), action, json!({})));
    let s = host
        .http_request()
        .get("h", "/v1/users?page=2")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(header(&h, ":path"), Some("/v2/users?page=2"));
    assert_eq!(
        header(&h, "x-envoy-original-path"),
        Some("/v1/users?page=2")
    );
}

/// V-21: a regex rewrite substitutes every match with group references; authority rewrites.
#[test]
fn regex_and_authority_rewrites() {
    let action = json!({"route": {"destinations": [{"cluster": cluster("a"), "weight": 1}],
        "rewrite": {"uriRegex": {"pattern": "^/users/([0-9]+)$", "substitution": "/u/\\1"}, "authority": "backend.internal"}}});
    let mut host = router(&one(json!({}), action, json!({})));
    let s = host
        .http_request()
        .get("h", "/users/42")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(header(&h, ":path"), Some("/u/42"), "{h:?}");
    assert_eq!(header(&h, ":authority"), Some("backend.internal"));
    assert_eq!(s.upstream_cluster(), Some(cluster("a")));
}

/// V-22: request set/add/remove of the route then the destination; response operations
/// applied to the upstream's answer.
#[test]
fn header_operations_on_request_and_response() {
    let action = json!({"route": {"destinations": [{"cluster": cluster("a"), "weight": 1,
        "headers": {"request": {"set": {"x-dest": "a"}}, "response": {"add": {"x-dest-resp": "a"}}}}]}});
    let extra = json!({"headers": {
        "request": {"set": {"x-set": "new"}, "add": {"x-add": "two"}, "remove": ["x-secret"]},
        "response": {"set": {"x-resp": "set"}, "add": {"x-multi": "added"}, "remove": ["server"]}
    }});
    let mut host = router(&one(json!({}), action, extra));
    let mut s = host
        .http_request()
        .get("h", "/")
        .header("x-set", "old")
        .header("x-add", "one")
        .header("x-secret", "s3cr3t")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(all(&h, "x-set"), ["new"]);
    assert_eq!(all(&h, "x-add"), ["one", "two"]);
    assert!(header(&h, "x-secret").is_none());
    assert_eq!(header(&h, "x-dest"), Some("a"));
    s.respond_headers(
        200,
        &[
            ("server", "upstream"),
            ("x-multi", "orig"),
            ("x-resp", "orig"),
        ],
        true,
    );
    let r = s.response_headers();
    assert!(header(&r, "server").is_none(), "{r:?}");
    assert_eq!(all(&r, "x-resp"), ["set"]);
    assert_eq!(all(&r, "x-multi"), ["orig", "added"]);
    assert_eq!(header(&r, "x-dest-resp"), Some("a"));
}

/// V-24: timeout and a retry policy of the route's own become Envoy's router headers, with the
/// header that selects Envoy's route without a policy of its own.
#[test]
fn timeout_and_retries_become_envoy_headers() {
    let extra = json!({"timeoutMs": 1500, "retries": {"attempts": 3, "perTryTimeoutMs": 500, "retryOn": "5xx,reset"}});
    let mut host = router(&one(json!({}), to(&cluster("a")), extra));
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(header(&h, "x-envoy-upstream-rq-timeout-ms"), Some("1500"));
    assert_eq!(header(&h, "x-envoy-max-retries"), Some("3"));
    assert_eq!(header(&h, "x-envoy-retry-on"), Some("5xx,reset"));
    assert_eq!(
        header(&h, "x-envoy-upstream-rq-per-try-timeout-ms"),
        Some("500")
    );
    assert_eq!(header(&h, OWN_RETRIES_HEADER), Some("1"));
    assert_eq!(header(&h, CLUSTER_HEADER), Some(cluster("a").as_str()));
}

/// V-24: Istio's mesh default policy is the rendered route's own: the router writes no retry
/// header for it.
#[test]
fn the_mesh_default_policy_writes_no_header() {
    let retries = serde_json::to_value(Retries::mesh_default()).unwrap();
    let mut host = router(&one(
        json!({}),
        to(&cluster("a")),
        json!({ "retries": retries }),
    ));
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    let h = s.request_headers();
    assert_eq!(header(&h, CLUSTER_HEADER), Some(cluster("a").as_str()));
    for name in [
        OWN_RETRIES_HEADER,
        "x-envoy-max-retries",
        "x-envoy-retry-on",
    ] {
        assert_eq!(header(&h, name), None, "{name}");
    }
}

fn cors_config() -> Value {
    let extra = json!({"cors": {"allowOrigins": [{"exact": "https://app.example.com"}],
        "allowMethods": ["GET", "POST"], "allowHeaders": ["x-token"], "exposeHeaders": ["x-trace"],
        "maxAgeS": 600, "allowCredentials": true}});
    one(json!({}), to(&cluster("a")), extra)
}

/// V-24: a preflight from an allowed origin is answered locally with the policy's headers.
#[test]
fn cors_preflight_from_allowed_origin_is_answered_locally() {
    let mut host = router(&cors_config());
    let s = host
        .http_request()
        .header(":method", "OPTIONS")
        .header(":scheme", "https")
        .header(":path", "/")
        .header(":authority", "api.example.com")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r.headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&r.headers, "access-control-allow-methods"),
        Some("GET,POST")
    );
    assert_eq!(
        header(&r.headers, "access-control-allow-headers"),
        Some("x-token")
    );
    assert_eq!(header(&r.headers, "access-control-max-age"), Some("600"));
    assert_eq!(
        header(&r.headers, "access-control-allow-credentials"),
        Some("true")
    );
}

/// V-24: an actual request from an allowed origin is forwarded and its response gets the
/// CORS headers; another origin gets none.
#[test]
fn cors_actual_request_gets_response_headers_only_for_allowed_origins() {
    let mut host = router(&cors_config());
    let mut s = host
        .http_request()
        .get("api", "/")
        .header("origin", "https://app.example.com")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
    s.respond_headers(200, &[], true);
    let r = s.response_headers();
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&r, "access-control-expose-headers"), Some("x-trace"));
    s.finish();
    let mut s = host
        .http_request()
        .get("api", "/")
        .header("origin", "https://evil.example.com")
        .send_headers_only()
        .unwrap();
    s.respond_headers(200, &[], true);
    assert!(header(&s.response_headers(), "access-control-allow-origin").is_none());
}
