//! The host filter through its .wasm: Gateway server hosts only (G-5, G-7, G-10), nothing else
//! is touched; metrics count each verdict.
#![allow(clippy::unwrap_used, reason = "test code")]

use serde_json::{Value, json};

use crate::fixtures::{CLUSTER_HEADER, host_filter, plain_get, status_of};

fn config() -> Value {
    json!({
        "version": 1,
        "configVersion": "sha256:hostfilter",
        "listeners": [{
            "port": 80,
            "servers": [
                {"name": "ns/gw/http", "hosts": ["a.example.com", "*.apps.example.com"]},
                {"name": "ns/gw/redirect", "hosts": ["secure.example.com"], "httpsRedirect": true}
            ]
        }]
    })
}

/// G-5, G-10: exact and wildcard hosts continue untouched; others get an empty 404.
#[test]
fn admits_listed_hosts_untouched_and_refuses_others() {
    let mut host = host_filter(&config());
    let s = host
        .http_request()
        .get("x.apps.example.com", "/p")
        .header("x-a", "1")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
    let headers = s.request_headers();
    assert!(
        headers.iter().all(|(k, _)| k != CLUSTER_HEADER),
        "{headers:?}"
    );
    assert_eq!(headers.len(), 5, "nothing added or removed: {headers:?}");
    for authority in ["apps.example.com", "b.example.com", "a.example.com.evil"] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        let r = s.local_response().unwrap();
        assert_eq!((r.status, r.body.len()), (404, 0), "{authority}");
    }
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.host_filter.allowed"), Some(1));
    assert_eq!(m.counter("portcullis.host_filter.refused"), Some(3));
}

/// S-2: port and case of the Host are ignored.
#[test]
fn host_port_and_case_are_ignored() {
    let mut host = host_filter(&config());
    for authority in [
        "A.EXAMPLE.COM:8080",
        "Deep.Apps.Example.Com",
        "a.example.com:80",
    ] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(status_of(&s), 0, "{authority}");
    }
}

/// G-7: plain text to an httpsRedirect server is a 301 with the https Location; https passes.
#[test]
fn https_redirect_server_redirects_plain_text_only() {
    let mut host = host_filter(&config());
    let s = plain_get(&mut host, "secure.example.com", "/login?next=/")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 301);
    assert!(
        r.headers.contains(&(
            "location".into(),
            "https://secure.example.com/login?next=/".into()
        )),
        "{r:?}"
    );
    let s = host
        .http_request()
        .get("secure.example.com", "/")
        .over_tls()
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.host_filter.redirected"), Some(1));
    assert_eq!(m.counter("portcullis.host_filter.allowed"), Some(1));
}

/// S-2: a request without `:authority` is refused with 400.
#[test]
fn missing_authority_is_400() {
    let mut host = host_filter(&config());
    let s = host
        .http_request()
        .header(":method", "GET")
        .header(":scheme", "https")
        .header(":path", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 400);
}

/// Config metrics: one accepted config and its version fingerprint gauge.
#[test]
fn config_metrics_report_the_accepted_version() {
    let host = host_filter(&config());
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.host_filter.config_accepted"), Some(1));
    assert_eq!(m.counter("portcullis.host_filter.config_rejected"), Some(0));
    assert!(
        m.gauge("portcullis.host_filter.config_version")
            .is_some_and(|v| v != 0)
    );
}
