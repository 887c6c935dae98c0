//! Audit records: the JSON Lines form, redaction, header selection and timestamps.

use serde_json::json;

use super::time::rfc3339_millis;
use super::{AuditRecord, Event, Protocol, Redaction, SinkLine};
use crate::egress::DenyReason;
use crate::wire::Audit;
use crate::{EgressDecision, EgressPolicy};

fn redaction(audit: serde_json::Value) -> Redaction {
    let audit: Audit = serde_json::from_value(audit).unwrap();
    Redaction::compile(&audit, "egress.audit").unwrap()
}

/// 2026-02-03T04:05:06.789Z plus sub-millisecond noise.
const T: u64 = 1_770_091_506_789_123_456;

/// The full record, every field filled: one line, keys in the documented order.
#[test]
fn golden_allowed_http_line() {
    let policy = EgressPolicy::compile(
        &serde_json::from_value(json!({
            "allowedHosts": [{ "host": "*.example.com", "ports": [443], "rule": "ServiceEntry default/ext" }],
            "audit": { "includeHeaders": ["user-agent", "authorization"] }
        }))
        .unwrap(),
    )
    .unwrap();
    let decision = policy.decide_http("api.example.com", 443);
    let mut r = AuditRecord::new(
        "5eed-1".into(),
        T,
        Event::Request,
        Protocol::Http,
        &decision,
        "sha256:abc",
    );
    r.request_id = Some("req-1".into());
    r.source_address = Some("10.0.0.7:51234".into());
    r.peer_identity = Some("spiffe://cluster.local/ns/default/sa/app".into());
    r.sni = Some("api.example.com".into());
    r.authority = Some("api.example.com".into());
    r.method = Some("GET".into());
    r.status = Some(200);
    r.response_flags = Some("-".into());
    r.bytes_in = Some(12);
    r.bytes_out = Some(3456);
    r.duration_ms = Some(78);
    r.upstream_cluster = Some("outbound|443||api.example.com".into());
    r.upstream_host = Some("93.184.216.34:443".into());
    policy
        .redaction()
        .set_path(&mut r, "/v1/items?token=secret");
    policy.redaction().set_headers(
        &mut r,
        [
            ("User-Agent", "curl/8"),
            ("authorization", "Bearer x"),
            ("cookie", "c=1"),
        ],
    );
    expect_test::expect![[r#"{"id":"5eed-1","time":"2026-02-03T04:05:06.789Z","event":"request","request_id":"req-1","protocol":"http","source_address":"10.0.0.7:51234","peer_identity":"spiffe://cluster.local/ns/default/sa/app","sni":"api.example.com","authority":"api.example.com","method":"GET","path":"/v1/items?[REDACTED]","status":200,"response_flags":"-","bytes_in":12,"bytes_out":3456,"duration_ms":78,"upstream_cluster":"outbound|443||api.example.com","upstream_host":"93.184.216.34:443","decision":"allowed","rule":"ServiceEntry default/ext","reason":"host matches allow-list pattern \"*.example.com\"","config_version":"sha256:abc","headers":{"authorization":"[REDACTED]","user-agent":"curl/8"}}"#]]
        .assert_eq(&r.to_json_line());
    assert_eq!(SinkLine::new(&r).as_str(), r.to_json_line());
}

/// A denied TLS connection: unknown fields are null, headers an empty object.
#[test]
fn golden_denied_tcp_line() {
    let decision = EgressDecision::Denied {
        reason: DenyReason::MissingSni,
    };
    let mut r = AuditRecord::new(
        "5eed-2".into(),
        0,
        Event::Close,
        Protocol::Tcp,
        &decision,
        "v1",
    );
    r.source_address = Some("10.0.0.7:1".into());
    expect_test::expect![[r#"{"id":"5eed-2","time":"1970-01-01T00:00:00.000Z","event":"close","request_id":null,"protocol":"tcp","source_address":"10.0.0.7:1","peer_identity":null,"sni":null,"authority":null,"method":null,"path":null,"status":null,"response_flags":null,"bytes_in":null,"bytes_out":null,"duration_ms":null,"upstream_cluster":null,"upstream_host":null,"decision":"denied","rule":"missing_sni","reason":"TLS connection has no SNI server name","config_version":"v1","headers":{}}"#]]
        .assert_eq(&SinkLine::new(&r).to_string());
}

/// Hostile values cannot break the one-line framing.
#[test]
fn line_never_contains_newline() {
    let decision = EgressDecision::Denied {
        reason: DenyReason::UnknownHost,
    };
    let mut r = AuditRecord::new(
        "5eed-3".into(),
        0,
        Event::Request,
        Protocol::Http,
        &decision,
        "v\n1",
    );
    r.authority = Some("evil\r\n.com".into());
    redaction(json!({})).set_path(&mut r, "/a\nb");
    let line = r.to_json_line();
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["authority"], "evil\r\n.com");
}

/// The query is redacted by default, kept with `includeQuery`.
#[test]
fn query_handling() {
    let default = redaction(json!({}));
    assert_eq!(default.path("/p?a=1&b=2"), "/p?[REDACTED]");
    assert_eq!(default.path("/p"), "/p");
    assert_eq!(default.path("/p?"), "/p?");
    assert_eq!(default.path("/p?a?b"), "/p?[REDACTED]");
    assert_eq!(default.path(""), "");
    let keep = redaction(json!({ "includeQuery": true }));
    assert_eq!(keep.path("/p?a=1"), "/p?a=1");

    let mut r = AuditRecord::new(
        "5eed-4".into(),
        0,
        Event::Request,
        Protocol::Http,
        &EgressDecision::Denied {
            reason: DenyReason::UnknownHost,
        },
        "v",
    );
    assert_eq!(r.path(), None);
    default.set_path(&mut r, "/x?secret");
    assert_eq!(r.path(), Some("/x?[REDACTED]"));
}

/// Only included headers are recorded, names case-insensitive; no include list, no headers.
#[test]
fn header_selection() {
    let r = redaction(json!({ "includeHeaders": ["User-Agent", "x-trace"] }));
    let got = r.headers([
        ("user-agent", "a"),
        ("X-Trace", "1"),
        ("x-other", "no"),
        ("x-trace", "2"),
    ]);
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        [
            ("user-agent".to_string(), "a".to_string()),
            ("x-trace".to_string(), "1, 2".to_string()),
        ]
    );
    assert!(
        redaction(json!({}))
            .headers([("user-agent", "a")])
            .is_empty()
    );
}

/// Redacted headers keep their name, lose their value; default list covers credentials.
#[test]
fn header_redaction() {
    let r =
        redaction(json!({ "includeHeaders": ["authorization", "cookie", "x-api-key", "accept"] }));
    let got = r.headers([
        ("Authorization", "Bearer t"),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("x-api-key", "k"),
        ("accept", "*/*"),
    ]);
    assert_eq!(got["authorization"], "[REDACTED]");
    assert_eq!(got["cookie"], "[REDACTED]");
    assert_eq!(got["x-api-key"], "[REDACTED]");
    assert_eq!(got["accept"], "*/*");

    let custom = redaction(
        json!({ "includeHeaders": ["authorization", "x-secret"], "redactHeaders": ["X-Secret"] }),
    );
    let got = custom.headers([("authorization", "Bearer t"), ("x-secret", "s")]);
    // An explicit redactHeaders list replaces the default one.
    assert_eq!(got["authorization"], "Bearer t");
    assert_eq!(got["x-secret"], "[REDACTED]");
}

/// RFC 3339 with milliseconds, UTC, across the epoch, leap days and century rules.
#[test]
fn rfc3339_formatting() {
    const DAY: u64 = 86_400 * 1_000_000_000;
    let at = |secs: u64, nanos: u64| rfc3339_millis(secs * 1_000_000_000 + nanos);
    assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_millis(999_999), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_millis(1_000_000), "1970-01-01T00:00:00.001Z");
    assert_eq!(rfc3339_millis(DAY - 1), "1970-01-01T23:59:59.999Z");
    assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z"); // 400-year leap
    assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000Z");
    assert_eq!(at(1_709_164_800, 0), "2024-02-29T00:00:00.000Z");
    assert_eq!(at(1_709_251_199, 500_000_000), "2024-02-29T23:59:59.500Z");
    assert_eq!(at(1_740_787_200, 0), "2025-03-01T00:00:00.000Z"); // not a leap year
    assert_eq!(at(4_107_456_000, 0), "2100-02-28T00:00:00.000Z"); // 2100 is not leap:
    assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z"); // the next day is March 1
    assert_eq!(at(1_767_225_599, 999_000_000), "2025-12-31T23:59:59.999Z");
    assert_eq!(rfc3339_millis(u64::MAX), "2554-07-21T23:34:33.709Z");
}
