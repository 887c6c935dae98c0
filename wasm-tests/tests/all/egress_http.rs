//! The HTTP egress filter through its .wasm: the REGISTRY_ONLY allow-list (E-3, E-4), deny
//! answers that say why, and one audit record per request in the log sink, redacted.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{EGRESS_AUDIT_ROOT_ID, egress_builder, egress_wire, status_of};

fn config() -> Value {
    egress_wire(json!({
        "allowedHosts": [
            {"host": "api.example.com", "ports": [443], "rule": "ServiceEntry default/api"},
            {"host": "*.github.com", "rule": "ServiceEntry default/github"}
        ],
        "audit": {"includeHeaders": ["authorization", "x-team"]}
    }))
}

fn egress() -> Host {
    egress_builder(&config(), EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap()
}

/// `config` with the answer `portcullis.dev/egress-deny-answer: registry-only` compiles to:
/// Istio's REGISTRY_ONLY 502, saying why.
fn explaining(mut config: Value) -> Value {
    config["egress"]["denyStatus"] = json!(502);
    config["egress"]["explainDenials"] = json!(true);
    config
}

fn egress_explaining() -> Host {
    egress_builder(&explaining(config()), EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap()
}

/// The audit records written to the log, parsed.
pub fn records(host: &Host) -> Vec<Value> {
    host.log_messages()
        .iter()
        .filter(|m| m.starts_with('{'))
        .filter_map(|m| serde_json::from_str(m).ok())
        .collect()
}

/// E-3: an allowed host continues; its record names the rule and the matched pattern, with
/// the query and credentials redacted.
#[test]
fn allowed_host_continues_and_is_audited_with_redaction() {
    let mut host = egress();
    let mut s = host
        .http_request()
        .get("api.example.com", "/v1/items?token=abc")
        .header("authorization", "Bearer secret")
        .header("x-team", "payments")
        .header("x-request-id", "req-1")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0, "{}", s.host_report());
    s.respond_headers(201, &[], true);
    s.finish();
    let r = records(&host);
    assert_eq!(r.len(), 1, "{:?}", host.log_messages());
    let r = &r[0];
    assert_eq!(r["protocol"], "http");
    assert_eq!(r["decision"], "allowed");
    assert_eq!(r["rule"], "ServiceEntry default/api");
    assert_eq!(r["authority"], "api.example.com");
    assert_eq!(r["method"], "GET");
    assert_eq!(r["path"], "/v1/items?[REDACTED]");
    assert_eq!(r["request_id"], "req-1");
    assert_eq!(r["headers"]["authorization"], "[REDACTED]");
    assert_eq!(r["headers"]["x-team"], "payments");
    assert_eq!(r["config_version"], "sha256:egress0000000000");
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.egress.allowed"), Some(1));
    assert_eq!(m.counter("portcullis.egress.audited"), Some(1));
}

/// E-4: by default an unknown host gets what Istio's egress gateway answers a host it has no
/// route for, a bare 404, and the denial is recorded with its reason.
#[test]
fn unknown_host_gets_istios_bare_404() {
    let mut host = egress();
    let s = host
        .http_request()
        .get("evil.com", "/exfil")
        .send_headers_only()
        .unwrap();
    let resp = s.local_response().unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.body_str(), "");
    assert!(
        !resp
            .headers
            .iter()
            .any(|(k, _)| k == "x-portcullis-egress-denied"),
        "{:?}",
        resp.headers
    );
    s.finish();
    let r = records(&host);
    assert_eq!(
        (r[0]["decision"].as_str(), r[0]["rule"].as_str()),
        (Some("denied"), Some("unknown_host"))
    );
    assert_eq!(host.metrics().counter("portcullis.egress.denied"), Some(1));
}

/// E-4: with the REGISTRY_ONLY answer an unknown host gets 502 with a body and a header saying
/// why, and a denied record.
#[test]
fn registry_only_answer_says_why() {
    let mut host = egress_explaining();
    let s = host
        .http_request()
        .get("evil.com", "/exfil")
        .send_headers_only()
        .unwrap();
    let resp = s.local_response().unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(
        resp.body_str(),
        "egress to \"evil.com:443\" denied: host is not in the egress allow-list (REGISTRY_ONLY)\n"
    );
    assert!(
        resp.headers
            .contains(&("x-portcullis-egress-denied".into(), "unknown_host".into()))
    );
    s.finish();
    let r = records(&host);
    assert_eq!(
        (r[0]["decision"].as_str(), r[0]["rule"].as_str()),
        (Some("denied"), Some("unknown_host"))
    );
    assert_eq!(host.metrics().counter("portcullis.egress.denied"), Some(1));
}

/// E-3: wildcard entries allow any port; a host listed for 443 only is denied on another port.
#[test]
fn ports_are_checked_per_entry() {
    let mut config = explaining(config());
    config["listeners"] = json!([
        {"port": 443, "servers": [{"name": "istio-system/egress/tls", "hosts": ["*"]}]},
        {"port": 8443, "servers": [{"name": "istio-system/egress/tls-8443", "hosts": ["*"]}]}
    ]);
    let mut host = egress_builder(&config, EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("api.example.com", "/")
        .property("destination.port", 8443i64)
        .send_headers_only()
        .unwrap();
    let resp = s.local_response().unwrap();
    assert_eq!(resp.status, 502);
    assert!(
        resp.body_str().contains("api.example.com:8443"),
        "{}",
        resp.body_str()
    );
    assert!(resp.headers.contains(&(
        "x-portcullis-egress-denied".into(),
        "port_not_allowed".into()
    )));
    let s = host
        .http_request()
        .get("raw.github.com", "/")
        .property("destination.port", 8443i64)
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
}

/// E-4: no host at all is denied as missing_host.
#[test]
fn missing_host_is_denied() {
    let mut host = egress_explaining();
    let s = host
        .http_request()
        .header(":method", "GET")
        .header(":path", "/")
        .send_headers_only()
        .unwrap();
    let resp = s.local_response().unwrap();
    assert_eq!(resp.status, 502);
    assert!(
        resp.headers
            .contains(&("x-portcullis-egress-denied".into(), "missing_host".into()))
    );
}

/// E-4: `denyStatus` replaces 404.
#[test]
fn deny_status_is_configurable() {
    let mut config = config();
    config["egress"]["denyStatus"] = json!(403);
    let mut host = egress_builder(&config, EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("evil.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 403);
}

/// includeQuery keeps the query string in the record.
#[test]
fn include_query_keeps_the_query_in_records() {
    let mut config = config();
    config["egress"]["audit"]["includeQuery"] = json!(true);
    let mut host = egress_builder(&config, EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap();
    host.http_request()
        .get("x.github.com", "/a?b=c")
        .send_headers_only()
        .unwrap()
        .finish();
    assert_eq!(records(&host)[0]["path"], "/a?b=c");
}

/// With one listener the port is the config's: the filter skips the `destination.port` read
/// (Envoy runs it on that listener only), so even a host that reported another port changes
/// nothing. Without a terminated-TLS server it skips the SNI and peer-certificate reads too:
/// the record has neither, whatever the host would have answered.
#[test]
fn reads_only_what_the_config_can_use() {
    let mut host = egress();
    let mut s = host
        .http_request()
        .get("api.example.com", "/")
        .property("destination.port", 8443i64)
        .property("connection.requested_server_name", "api.example.com")
        .property(
            "connection.uri_san_peer_certificate",
            "spiffe://x/ns/a/sa/b",
        )
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0, "{}", s.host_report());
    s.respond_headers(200, &[], true);
    s.finish();
    let r = records(&host);
    assert_eq!(r.len(), 1, "{:?}", host.log_messages());
    // api.example.com is listed for 443 only: on 8443 it would have been denied.
    assert_eq!(r[0]["decision"], "allowed");
    assert!(r[0]["sni"].is_null(), "{}", r[0]);
    assert!(r[0]["peer_identity"].is_null(), "{}", r[0]);
}

/// E-5: the record's headers are the request's as received, a repeated one joined in arrival
/// order, and `x-request-id` is Envoy's, read with them in one pass over the header map.
#[test]
fn included_headers_are_recorded_as_received() {
    let mut host = egress();
    let mut s = host
        .http_request()
        .get("api.example.com", "/")
        .header("x-team", "payments")
        .header("x-team", "audit")
        .header("x-request-id", "req-7")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0, "{}", s.host_report());
    s.respond_headers(200, &[], true);
    s.finish();
    let r = records(&host);
    assert_eq!(r.len(), 1, "{:?}", host.log_messages());
    assert_eq!(r[0]["headers"]["x-team"], "payments, audit", "{}", r[0]);
    assert_eq!(r[0]["request_id"], "req-7");
}

/// A WebSocket upgrade may stay open for hours: it is recorded when it is let through (before
/// the upstream answers) and again when it closes; a plain request is recorded once, at its
/// end. Each record has its own id.
#[test]
fn an_upgraded_stream_is_recorded_when_it_opens_and_when_it_closes() {
    let mut host = egress();
    let mut s = host
        .http_request()
        .get("api.example.com", "/socket")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0, "{}", s.host_report());
    let open = records(s.host());
    assert_eq!(open.len(), 1, "recorded at open: {open:?}");
    assert_eq!(
        (open[0]["event"].as_str(), open[0]["path"].as_str()),
        (Some("open"), Some("/socket"))
    );
    assert!(open[0]["status"].is_null() && open[0]["duration_ms"].is_null());
    s.respond_headers(101, &[("upgrade", "websocket")], false);
    s.finish();
    let r = records(&host);
    assert_eq!(r.len(), 2, "{:?}", host.log_messages());
    assert_eq!(
        (r[1]["event"].as_str(), r[1]["status"].as_u64()),
        (Some("close"), Some(101))
    );
    assert_ne!(r[0]["id"], r[1]["id"]);

    let mut s = host
        .http_request()
        .get("api.example.com", "/plain")
        .send_headers_only()
        .unwrap();
    s.respond_headers(200, &[], true);
    s.finish();
    let r = records(&host);
    assert_eq!(r.len(), 3);
    assert_eq!(r[2]["event"], "request");
    assert_eq!(host.metrics().counter("portcullis.egress.logged"), Some(3));
}
