//! Egress allow-list decisions (E-3, E-4) and host matching (G-9, S-2), and config validation.

// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failing test should stop at the failing line"
)]

use portcullis_core::egress::DenyReason;
use portcullis_core::wire::{FailureMode, WireConfig};
use portcullis_core::{ConfigError, EgressDecision, EgressPolicy};
use serde_json::json;

/// The egress filter's compile step on a wire config whose `egress` section is `value`.
fn compile(value: serde_json::Value) -> Result<EgressPolicy, ConfigError> {
    let config = json!({"version": 1, "configVersion": "sha256:t", "egress": value});
    EgressPolicy::from_wire(&WireConfig::from_json(config.to_string().as_bytes()).unwrap())
}

fn policy(value: serde_json::Value) -> EgressPolicy {
    compile(value).unwrap()
}

fn compile_err(value: serde_json::Value) -> ConfigError {
    compile(value).unwrap_err()
}

fn allowed<'p>(rule: &'p str, host_pattern: &'p str) -> EgressDecision<'p> {
    EgressDecision::Allowed { rule, host_pattern }
}

fn denied(reason: DenyReason) -> EgressDecision<'static> {
    EgressDecision::Denied { reason }
}

fn sample() -> EgressPolicy {
    policy(json!({
        "allowedHosts": [
            { "host": "api.example.com", "ports": [80], "rule": "SE exact-80" },
            { "host": "*.example.com", "ports": [443], "rule": "SE wild-443" },
            { "host": "*.svc.example.com", "rule": "SE svc-any" },
            { "host": "httpbin.org", "ports": [80, 443], "rule": "SE httpbin" },
            { "host": "httpbin.org", "ports": [8080], "rule": "SE httpbin-alt" },
        ]
    }))
}

/// Exact hosts are allowed on their ports only; the Host's own port is ignored (S-2).
#[test]
fn exact_host_on_listed_port() {
    let p = sample();
    assert_eq!(
        p.decide_http("api.example.com", 80),
        allowed("SE exact-80", "api.example.com")
    );
    assert_eq!(
        p.decide_http("api.example.com:9999", 80),
        allowed("SE exact-80", "api.example.com")
    );
    assert_eq!(
        p.decide_http("httpbin.org", 443),
        allowed("SE httpbin", "httpbin.org")
    );
    assert_eq!(
        p.decide_http("httpbin.org", 8080),
        allowed("SE httpbin-alt", "httpbin.org")
    );
    assert_eq!(
        p.decide_http("httpbin.org", 81),
        denied(DenyReason::PortNotAllowed)
    );
}

/// Host matching is case-insensitive.
#[test]
fn case_insensitive() {
    let p = sample();
    assert_eq!(
        p.decide_http("HTTPBin.ORG:80", 80),
        allowed("SE httpbin", "httpbin.org")
    );
    assert_eq!(
        p.decide_sni(Some("HttpBin.org"), 443),
        allowed("SE httpbin", "httpbin.org")
    );
}

/// The port picks the entries first, as Istio's per-port route tables do: an exact entry on
/// another port does not hide a wildcard that allows this one.
#[test]
fn port_selects_entries_before_host_specificity() {
    let p = sample();
    assert_eq!(
        p.decide_http("api.example.com", 443),
        allowed("SE wild-443", "*.example.com")
    );
    assert_eq!(
        p.decide_http("api.example.com", 8443),
        denied(DenyReason::PortNotAllowed)
    );
}

/// The longest suffix wins; `*` spans dots but never matches the bare suffix (G-9).
#[test]
fn longest_suffix_wins() {
    let p = sample();
    assert_eq!(
        p.decide_http("a.svc.example.com", 443),
        allowed("SE svc-any", "*.svc.example.com")
    );
    assert_eq!(
        p.decide_http("x.y.svc.example.com", 1),
        allowed("SE svc-any", "*.svc.example.com")
    );
    assert_eq!(
        p.decide_http("a.b.example.com", 443),
        allowed("SE wild-443", "*.example.com")
    );
    assert_eq!(
        p.decide_http("example.com", 443),
        denied(DenyReason::UnknownHost)
    );
    assert_eq!(
        p.decide_http(".example.com", 443),
        denied(DenyReason::UnknownHost)
    );
    // The bare suffix of the longer wildcard falls to the shorter one.
    assert_eq!(
        p.decide_http("svc.example.com", 443),
        allowed("SE wild-443", "*.example.com")
    );
}

/// A trailing dot is not stripped: it matches only `*` (S-2).
#[test]
fn trailing_dot_is_not_stripped() {
    let p = sample();
    assert_eq!(
        p.decide_http("httpbin.org.", 80),
        denied(DenyReason::UnknownHost)
    );
    assert_eq!(
        p.decide_http("a.example.com.", 443),
        denied(DenyReason::UnknownHost)
    );
    let any = policy(json!({ "allowedHosts": [{ "host": "*", "rule": "any" }] }));
    assert_eq!(any.decide_http("httpbin.org.", 80), allowed("any", "*"));
}

/// `*` comes last, after exact and suffix entries.
#[test]
fn star_is_the_last_resort() {
    let p = policy(json!({ "allowedHosts": [
        { "host": "*", "ports": [443], "rule": "any-443" },
        { "host": "*.example.com", "rule": "wild" },
        { "host": "a.example.com", "ports": [80], "rule": "exact" },
    ]}));
    assert_eq!(
        p.decide_http("a.example.com", 80),
        allowed("exact", "a.example.com")
    );
    assert_eq!(
        p.decide_http("a.example.com", 443),
        allowed("wild", "*.example.com")
    );
    assert_eq!(p.decide_http("other.org", 443), allowed("any-443", "*"));
    assert_eq!(
        p.decide_http("other.org", 80),
        denied(DenyReason::PortNotAllowed)
    );
}

/// REGISTRY_ONLY: unknown hosts and an empty allow-list deny (E-3, E-4).
#[test]
fn unknown_hosts_are_denied() {
    assert_eq!(
        sample().decide_http("evil.com", 443),
        denied(DenyReason::UnknownHost)
    );
    let empty = policy(json!({}));
    assert_eq!(
        empty.decide_http("httpbin.org", 80),
        denied(DenyReason::UnknownHost)
    );
    assert_eq!(empty.deny_status(), 404);
}

/// A request without host, and a connection without SNI, are denied.
#[test]
fn missing_host_and_sni() {
    let p = policy(json!({ "allowedHosts": [{ "host": "*", "rule": "any" }] }));
    assert_eq!(p.decide_http("", 80), denied(DenyReason::MissingHost));
    assert_eq!(p.decide_http(":80", 80), denied(DenyReason::MissingHost));
    assert_eq!(p.decide_sni(None, 443), denied(DenyReason::MissingSni));
    assert_eq!(p.decide_sni(Some(""), 443), denied(DenyReason::MissingSni));
    assert_eq!(p.decide_sni(Some("x.org"), 443), allowed("any", "*"));
}

/// SNI follows the same rules as the Host.
#[test]
fn sni_rules() {
    let p = sample();
    assert_eq!(
        p.decide_sni(Some("a.example.com"), 443),
        allowed("SE wild-443", "*.example.com")
    );
    assert_eq!(
        p.decide_sni(Some("a.example.com"), 80),
        denied(DenyReason::PortNotAllowed)
    );
    assert_eq!(
        p.decide_sni(Some("evil.com"), 443),
        denied(DenyReason::UnknownHost)
    );
}

/// Codes are stable, messages and bodies say why.
#[test]
fn deny_reasons_and_body() {
    let all = [
        DenyReason::MissingHost,
        DenyReason::MissingSni,
        DenyReason::UnknownHost,
        DenyReason::PortNotAllowed,
        DenyReason::AuditUnavailable,
    ];
    let codes: Vec<_> = all.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [
            "missing_host",
            "missing_sni",
            "unknown_host",
            "port_not_allowed",
            "audit_unavailable"
        ]
    );
    let p = policy(json!({ "denyStatus": 403 }));
    let statuses: Vec<_> = all.iter().map(|r| p.status_for(*r)).collect();
    assert_eq!(statuses, [403, 403, 403, 403, 503]);
    assert_eq!(
        DenyReason::UnknownHost.body("evil.com", 443),
        "egress to \"evil.com:443\" denied: host is not in the egress allow-list (REGISTRY_ONLY)\n"
    );
    assert_eq!(
        DenyReason::PortNotAllowed.body("Api.Example.com:8443", 443),
        "egress to \"api.example.com:443\" denied: port is not allowed for this host in the egress allow-list\n"
    );
    assert_eq!(
        DenyReason::MissingHost.body("", 80),
        "egress denied: request has no host (:authority)\n"
    );
    // Quotes are escaped and long hosts cut.
    assert_eq!(
        DenyReason::UnknownHost.body("a\"b", 1),
        "egress to \"a\\\"b:1\" denied: host is not in the egress allow-list (REGISTRY_ONLY)\n"
    );
    assert!(DenyReason::UnknownHost.body(&"é".repeat(300), 1).len() < 400);
}

/// E-4: the answer to a denial is Istio's bare `denyStatus` unless `explainDenials`, which adds
/// the reason as a header and a body; a refusal for want of audit always says why.
#[test]
fn denials_are_bare_unless_explained() {
    use portcullis_core::egress::{DENIED_HEADER, Denial};
    let bare = policy(json!({}));
    assert_eq!(
        bare.denial(DenyReason::UnknownHost, "evil.com", 80),
        Denial {
            status: 404,
            header: None,
            body: None
        }
    );
    let explained = policy(json!({ "denyStatus": 502, "explainDenials": true }));
    assert_eq!(
        explained.denial(DenyReason::PortNotAllowed, "api.example.com", 8443),
        Denial {
            status: 502,
            header: Some((DENIED_HEADER, "port_not_allowed")),
            body: Some(DenyReason::PortNotAllowed.body("api.example.com", 8443)),
        }
    );
    for p in [&bare, &explained] {
        assert_eq!(
            p.denial(DenyReason::AuditUnavailable, "api.example.com", 80),
            Denial {
                status: 503,
                header: None,
                body: Some(DenyReason::AuditUnavailable.body("api.example.com", 80)),
            }
        );
    }
}

/// Accessors expose the settings.
#[test]
fn accessors() {
    let p = policy(json!({
        "denyStatus": 403,
        "audit": { "failureMode": "closed", "includeHeaders": ["User-Agent"] }
    }));
    assert_eq!(p.deny_status(), 403);
    assert_eq!(p.failure_mode(), FailureMode::Closed);
    assert_eq!(p.audit().include_headers, ["User-Agent"]);
    assert_eq!(
        p.redaction().included_headers().collect::<Vec<_>>(),
        ["user-agent"]
    );
    assert!(!p.decide_http("x", 1).is_allowed());
    assert_eq!(
        p.decide_http("x", 1).deny_reason(),
        Some(DenyReason::UnknownHost)
    );
}

fn at(err: &ConfigError) -> &str {
    match err {
        ConfigError::InvalidHost { at, .. } | ConfigError::Invalid { at, .. } => at,
        other => panic!("unexpected error {other:?}"),
    }
}

/// Bad host patterns name the entry.
#[test]
fn rejects_bad_host_patterns() {
    for bad in [
        "", "foo.*", "a.*.com", "**.com", "*.", "a..b", "a.com.", "a b.com", "[::1", "*x.com",
    ] {
        let err = compile_err(json!({ "allowedHosts": [
            { "host": "ok.com", "rule": "r" },
            { "host": bad, "rule": "r" },
        ]}));
        assert!(
            matches!(err, ConfigError::InvalidHost { .. }),
            "{bad:?}: {err}"
        );
        assert_eq!(at(&err), "egress.allowedHosts[1].host", "{bad:?}");
    }
    let long_label = format!("{}.com", "a".repeat(64));
    let err = compile_err(json!({ "allowedHosts": [{ "host": long_label, "rule": "r" }] }));
    assert_eq!(at(&err), "egress.allowedHosts[0].host");
}

/// IP literals are exact hosts, as in Gateway server hosts (G-5): an IPv6 literal matches a
/// bracketed `:authority` with or without a port.
#[test]
fn ip_literals_are_exact_hosts() {
    let p = policy(json!({ "allowedHosts": [
        { "host": "[::1]", "rule": "SE v6" },
        { "host": "10.0.0.7", "rule": "SE v4" },
    ]}));
    assert_eq!(p.decide_http("[::1]:8080", 8080), allowed("SE v6", "[::1]"));
    assert_eq!(p.decide_http("10.0.0.7", 80), allowed("SE v4", "10.0.0.7"));
    assert_eq!(
        p.decide_http("10.0.0.8", 80),
        denied(DenyReason::UnknownHost)
    );
}

/// Other semantic errors name their field.
#[test]
fn rejects_bad_settings() {
    let cases = [
        (json!({ "denyStatus": 199 }), "egress.denyStatus"),
        (json!({ "denyStatus": 600 }), "egress.denyStatus"),
        (
            json!({ "allowedHosts": [{ "host": "a.com", "ports": [80, 0], "rule": "r" }] }),
            "egress.allowedHosts[0].ports[1]",
        ),
        (
            json!({ "allowedHosts": [{ "host": "a.com", "rule": " " }] }),
            "egress.allowedHosts[0].rule",
        ),
        (
            json!({ "audit": { "includeHeaders": ["ok", "bad header"] } }),
            "egress.audit.includeHeaders[1]",
        ),
        (
            json!({ "audit": { "redactHeaders": [""] } }),
            "egress.audit.redactHeaders[0]",
        ),
        (
            collector(json!({ "batchSize": 0 })),
            "egress.audit.sink.http.batchSize",
        ),
        (
            collector(json!({ "maxBuffered": 0 })),
            "egress.audit.sink.http.maxBuffered",
        ),
        (
            collector(json!({ "batchSize": 11, "maxBuffered": 10 })),
            "egress.audit.sink.http.batchSize",
        ),
        (
            collector(json!({ "flushIntervalMs": 0 })),
            "egress.audit.sink.http.flushIntervalMs",
        ),
        (
            collector(json!({ "timeoutMs": 0 })),
            "egress.audit.sink.http.timeoutMs",
        ),
        (
            collector(json!({ "initialBackoffMs": 0 })),
            "egress.audit.sink.http.initialBackoffMs",
        ),
        (
            collector(json!({ "initialBackoffMs": 10, "maxBackoffMs": 5 })),
            "egress.audit.sink.http.maxBackoffMs",
        ),
        (
            collector(json!({ "cluster": "" })),
            "egress.audit.sink.http.cluster",
        ),
        (
            collector(json!({ "authority": "" })),
            "egress.audit.sink.http.authority",
        ),
        (
            collector(json!({ "path": "v1" })),
            "egress.audit.sink.http.path",
        ),
    ];
    for (config, expected) in cases {
        let err = compile_err(config.clone());
        assert_eq!(at(&err), expected, "{config}: {err}");
    }
    // The defaults of a collector are valid.
    compile(collector(json!({}))).unwrap();
}

fn collector(overrides: serde_json::Value) -> serde_json::Value {
    let mut http = json!({ "cluster": "audit", "authority": "audit.local" });
    for (k, v) in overrides.as_object().unwrap() {
        http[k] = v.clone();
    }
    json!({ "audit": { "sink": { "http": http } } })
}

/// Error messages read well in the filter's one log line.
#[test]
fn error_display() {
    let err = compile_err(json!({ "allowedHosts": [{ "host": "foo.*", "rule": "r" }] }));
    expect_test::expect![[r#"egress.allowedHosts[0].host: invalid host pattern "foo.*": a wildcard is only allowed as the whole left-most label (`*.example.com`) or alone (`*`)"#]]
        .assert_eq(&err.to_string());
}
