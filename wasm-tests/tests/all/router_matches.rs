//! Every match type of a route through the .wasm (V-10 … V-15): each test puts a matching
//! route first and a catch-all `fallback` second, so the chosen cluster shows which matched.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{cluster, route, router, to, wire};

/// A router whose first route has `matcher` (to `hit`) and whose second catches all.
fn host_with(matcher: Value) -> Host {
    router(&wire(
        &["*"],
        vec![
            route("m", matcher, to(&cluster("hit")), json!({})),
            route("fallback", json!({}), to(&cluster("miss")), json!({})),
        ],
    ))
}

/// Sends `method path` with `headers` and says whether the first route matched.
fn hits(
    host: &mut Host,
    method: &str,
    scheme: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> bool {
    let mut r = host
        .http_request()
        .header(":method", method)
        .header(":scheme", scheme)
        .header(":path", path)
        .header(":authority", authority);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let s = r.send_headers_only().unwrap();
    match s.upstream_cluster() {
        Some(c) if c == cluster("hit") => true,
        Some(c) if c == cluster("miss") => false,
        other => panic!("{other:?}: {}", s.host_report()),
    }
}

fn get(host: &mut Host, path: &str) -> bool {
    hits(host, "GET", "https", "h.example.com", path, &[])
}

fn with_headers(host: &mut Host, headers: &[(&str, &str)]) -> bool {
    hits(host, "GET", "https", "h.example.com", "/", headers)
}

/// V-11: exact uri matches the path without its query string, byte for byte.
#[test]
fn uri_exact_matches_the_path_without_query() {
    let mut h = host_with(json!({"uri": {"exact": "/a"}}));
    assert!(get(&mut h, "/a"));
    assert!(get(&mut h, "/a?x=1"));
    assert!(!get(&mut h, "/a/"));
    assert!(!get(&mut h, "/A"));
}

/// V-11: prefix uri is a plain string prefix (not segment-aware).
#[test]
fn uri_prefix_is_a_plain_string_prefix() {
    let mut h = host_with(json!({"uri": {"prefix": "/api"}}));
    assert!(get(&mut h, "/api"));
    assert!(get(&mut h, "/api/v1"));
    assert!(get(&mut h, "/apiary"));
    assert!(!get(&mut h, "/ap"));
}

/// V-10: regex uri must match the whole path (anchored).
#[test]
fn uri_regex_is_anchored() {
    let mut h = host_with(json!({"uri": {"regex": "/u/[0-9]+"}}));
    assert!(get(&mut h, "/u/42"));
    assert!(get(&mut h, "/u/42?x"));
    assert!(!get(&mut h, "/u/42/x"));
    assert!(!get(&mut h, "/x/u/42"));
}

/// V-11: ignoreUriCase makes exact and prefix case-insensitive.
#[test]
fn ignore_uri_case_applies_to_exact_and_prefix() {
    let mut h = host_with(json!({"uri": {"prefix": "/Api"}, "ignoreUriCase": true}));
    assert!(get(&mut h, "/API/x"));
    assert!(get(&mut h, "/api"));
    let mut h = host_with(json!({"uri": {"exact": "/Login"}, "ignoreUriCase": true}));
    assert!(get(&mut h, "/LOGIN"));
    assert!(!get(&mut h, "/LOGIN/"));
}

/// V-12: method, scheme and authority (raw, port kept) string matches.
#[test]
fn method_scheme_and_authority_matches() {
    let mut h = host_with(json!({"method": {"exact": "POST"}}));
    assert!(hits(&mut h, "POST", "https", "h", "/", &[]));
    assert!(!hits(&mut h, "GET", "https", "h", "/", &[]));
    let mut h = host_with(json!({"scheme": {"exact": "http"}}));
    assert!(hits(&mut h, "GET", "http", "h", "/", &[]));
    assert!(!hits(&mut h, "GET", "https", "h", "/", &[]));
    let mut h = host_with(json!({"authority": {"regex": "api\\.example\\.com(:[0-9]+)?"}}));
    assert!(hits(
        &mut h,
        "GET",
        "https",
        "api.example.com:8080",
        "/",
        &[]
    ));
    assert!(hits(&mut h, "GET", "https", "api.example.com", "/", &[]));
    assert!(!hits(&mut h, "GET", "https", "web.example.com", "/", &[]));
    let mut h = host_with(json!({"authority": {"prefix": "api."}}));
    assert!(hits(&mut h, "GET", "https", "api.example.com", "/", &[]));
    assert!(!hits(
        &mut h,
        "GET",
        "https",
        "www.api.example.com",
        "/",
        &[]
    ));
}

/// V-13: header exact, prefix, regex and presence; repeated headers are joined with `,`.
#[test]
fn header_matches_exact_prefix_regex_and_presence() {
    let mut h = host_with(json!({"headers": {"x-user": {"exact": "jason"}}}));
    assert!(with_headers(&mut h, &[("x-user", "jason")]));
    assert!(!with_headers(&mut h, &[("x-user", "Jason")]));
    assert!(!with_headers(&mut h, &[]));
    let mut h = host_with(json!({"headers": {"x-v": {"prefix": "v2"}}}));
    assert!(with_headers(&mut h, &[("x-v", "v2.1")]));
    assert!(!with_headers(&mut h, &[("x-v", "v1")]));
    let mut h = host_with(json!({"headers": {"x-id": {"regex": "[a-f0-9]{4}"}}}));
    assert!(with_headers(&mut h, &[("x-id", "beef")]));
    assert!(!with_headers(&mut h, &[("x-id", "beefy")]));
    let mut h = host_with(json!({"headers": {"x-canary": {"present": true}}}));
    assert!(with_headers(&mut h, &[("x-canary", "")]));
    assert!(!with_headers(&mut h, &[("x-other", "1")]));
    let mut h = host_with(json!({"headers": {"x-multi": {"exact": "a,b"}}}));
    assert!(with_headers(&mut h, &[("x-multi", "a"), ("x-multi", "b")]));
}

/// V-13: several header conditions are ANDed.
#[test]
fn header_conditions_are_anded() {
    let mut h = host_with(json!({"headers": {"x-a": {"exact": "1"}, "x-b": {"exact": "2"}}}));
    assert!(with_headers(&mut h, &[("x-a", "1"), ("x-b", "2")]));
    assert!(!with_headers(&mut h, &[("x-a", "1")]));
}

/// V-14: withoutHeaders refuses requests carrying the header (presence or value).
#[test]
fn without_headers_excludes_matching_requests() {
    let mut h = host_with(json!({"withoutHeaders": {"x-debug": {"present": true}}}));
    assert!(with_headers(&mut h, &[]));
    assert!(!with_headers(&mut h, &[("x-debug", "1")]));
    let mut h = host_with(json!({"withoutHeaders": {"x-env": {"exact": "prod"}}}));
    assert!(with_headers(&mut h, &[("x-env", "dev")]));
    assert!(!with_headers(&mut h, &[("x-env", "prod")]));
}

/// V-15: queryParams match the first value of the parameter; presence works too.
#[test]
fn query_params_match_values_and_presence() {
    let mut h = host_with(json!({"queryParams": {"v": {"exact": "2"}}}));
    assert!(get(&mut h, "/p?v=2"));
    assert!(get(&mut h, "/p?a=1&v=2"));
    assert!(!get(&mut h, "/p?v=3"));
    assert!(!get(&mut h, "/p"));
    let mut h = host_with(json!({"queryParams": {"debug": {"present": true}}}));
    assert!(get(&mut h, "/p?debug"));
    assert!(!get(&mut h, "/p?x=debug"));
    let mut h = host_with(json!({"queryParams": {"id": {"regex": "[0-9]+"}}}));
    assert!(get(&mut h, "/p?id=77"));
    assert!(!get(&mut h, "/p?id=7a"));
}

/// V-5, V-8: first match in declaration order wins, even when a later route is more specific.
#[test]
fn first_matching_route_wins_in_declaration_order() {
    let mut host = router(&wire(
        &["*"],
        vec![
            route(
                "broad",
                json!({"uri": {"prefix": "/"}}),
                to(&cluster("broad")),
                json!({}),
            ),
            route(
                "narrow",
                json!({"uri": {"exact": "/x"}}),
                to(&cluster("narrow")),
                json!({}),
            ),
        ],
    ));
    let s = host
        .http_request()
        .get("h", "/x")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("broad")));
}

/// V-9: no matching route is 404 and counted unrouted.
#[test]
fn no_matching_route_is_404() {
    let mut host = router(&wire(
        &["*"],
        vec![route(
            "only",
            json!({"uri": {"prefix": "/api"}}),
            to(&cluster("a")),
            json!({}),
        )],
    ));
    let s = host
        .http_request()
        .get("h", "/web")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.local_response().map(|r| r.status), Some(404));
    assert_eq!(
        host.metrics().counter("portcullis.router.unrouted"),
        Some(1)
    );
}
