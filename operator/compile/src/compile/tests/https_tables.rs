//! One route table per terminated HTTPS server (G-11), one shared table for the plain-text
//! servers of a port (G-8).

use crate::explain::{ExplainRequest, ExplainedOutcome, explain};

use super::*;

/// Two Gateways with an HTTPS server each on port 443, one VirtualService bound to both, and a
/// plain-text Gateway on port 80 with the same hosts.
const TWO_HTTPS: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-a, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: cert}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [a.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-b, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: ['*.example.com']
    tls: {mode: SIMPLE, credentialName: cert}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [b.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: both, namespace: default}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [gw-a, gw-b]
  http:
  - name: r
    route: [{destination: {host: svc.org}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: only-b, namespace: default}
spec:
  hosts: [a.example.com, '*.example.com']
  gateways: [gw-b]
  http:
  - name: wild
    route: [{destination: {host: wild.org}}]
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: istio-system}
type: kubernetes.io/tls
data:
  tls.crt: Q0VSVA==
  tls.key: S0VZ
";

fn domains(table: &[VirtualHost]) -> Vec<&str> {
    table.iter().map(|v| v.domains[0].as_str()).collect()
}

/// G-11, V-3: each HTTPS server gets its own table, intersected with its own hosts only; the
/// port's shared table stays empty. No "shared route table" warning any more.
#[test]
fn g11_two_https_servers_two_tables() {
    let out = compile_yaml(TWO_HTTPS);
    let l = out.wire.listeners.iter().find(|l| l.port == 443).unwrap();
    assert!(l.virtual_hosts.is_empty(), "{:#?}", l.virtual_hosts);
    assert_eq!(l.servers.len(), 2);
    assert!(l.servers.iter().all(|s| s.tls));
    let a = server_table(&out, 443, "default/gw-a/https-a");
    assert_eq!(domains(a), ["a.example.com"]);
    assert_eq!(route_names(&a[0]), ["r"]);
    let b = server_table(&out, 443, "default/gw-b/https-b");
    assert_eq!(
        domains(b),
        ["a.example.com", "b.example.com", "*.example.com"]
    );
    // The same host in two tables, with different routes: `only-b` is bound to gw-b alone.
    let b_a = b.iter().find(|v| v.domains == ["a.example.com"]).unwrap();
    assert_eq!(route_names(b_a), ["r", "wild"]);
    assert!(
        out.diagnostics
            .iter()
            .all(|d| !d.message.contains("share one route table")),
        "{:#?}",
        out.diagnostics
    );
    assert!(with_rule(&out, "G-11").is_empty(), "{:#?}", out.diagnostics);
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:#?}",
        out.diagnostics
    );
}

/// G-8: plain-text servers of one port keep one merged table; their servers carry none.
#[test]
fn g8_plain_text_servers_share_the_listener_table() {
    let out = compile_yaml(TWO_HTTPS);
    let l = out.wire.listeners.iter().find(|l| l.port == 80).unwrap();
    assert_eq!(
        domains(&l.virtual_hosts),
        ["a.example.com", "b.example.com"]
    );
    assert!(
        l.servers
            .iter()
            .all(|s| !s.tls && s.virtual_hosts.is_empty())
    );
}

/// G-11 through `explain`: the SNI (default: the Host) selects the server; SNI `a` with Host
/// `b` is 404 although another server on the port routes `b`.
#[test]
fn g11_explain_follows_sni() {
    let out = compile_yaml(TWO_HTTPS);
    let request = |host: &str, sni: Option<&str>| ExplainRequest {
        host: host.into(),
        path: "/".into(),
        method: "GET".into(),
        port: Some(443),
        sni: sni.map(str::to_string),
        ..Default::default()
    };
    let e = explain(&out.wire, &request("b.example.com:443", None), 1).unwrap();
    assert!(
        matches!(e.outcome, ExplainedOutcome::Forward { .. }),
        "{e:?}"
    );
    assert_eq!(
        e.sni.as_deref(),
        Some("b.example.com"),
        "the Host without its port"
    );
    let text = crate::explain::text::render(&e);
    assert!(text.contains("sni             b.example.com"), "{text}");
    assert_eq!(e.server.as_deref(), Some("default/gw-b/https-b"));
    let e = explain(&out.wire, &request("a.example.com", None), 1).unwrap();
    assert_eq!(e.server.as_deref(), Some("default/gw-a/https-a"));
    let e = explain(
        &out.wire,
        &request("b.example.com", Some("a.example.com")),
        1,
    )
    .unwrap();
    assert!(
        matches!(e.outcome, ExplainedOutcome::Refused { status: 404, .. }),
        "{e:?}"
    );
    assert_eq!(e.server.as_deref(), Some("default/gw-a/https-a"));
    // No SNI: no server lists `*`, so no filter chain matches.
    let e = explain(&out.wire, &request("a.example.com", Some("")), 1).unwrap();
    assert!(
        matches!(
            e.outcome,
            ExplainedOutcome::Refused {
                code: "no_tls_server",
                ..
            }
        ),
        "{e:?}"
    );
}

/// G-10, G-11: an HTTPS server with no bound VirtualService gets an empty table (404 for every
/// request its SNI selects), reported per server.
#[test]
fn g10_https_server_without_routes() {
    let yaml = TWO_HTTPS.replace("gateways: [gw-a, gw-b]", "gateways: [gw-b]");
    let out = compile_yaml(&yaml);
    assert!(server_table(&out, 443, "default/gw-a/https-a").is_empty());
    let d = with_rule(&out, "G-10");
    assert!(
        d.iter().any(|d| d.message.contains("default/gw-a/https-a")),
        "{d:#?}"
    );
}

/// G-11: each terminated server's filter chain is named after the server, in the Envoy plan and
/// in the wire config alike, made unique on the port when two servers share a name; the filter
/// selects the server by that name.
#[test]
fn g11_filter_chains_are_named_after_their_servers() {
    let yaml = TWO_HTTPS.to_string()
        + "
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-a, namespace: other}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [c.example.com]
    tls: {mode: SIMPLE, credentialName: cert}
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [d.example.com]
    tls: {mode: SIMPLE, credentialName: cert}
";
    let out = compile_yaml(&yaml);
    let wire = out.wire.listeners.iter().find(|l| l.port == 443).unwrap();
    let plan = out
        .envoy
        .listeners
        .iter()
        .find(|l| l.gateway_port == 443)
        .unwrap();
    let wire_chains: Vec<&str> = wire
        .servers
        .iter()
        .map(|s| s.filter_chain.as_deref().unwrap())
        .collect();
    let plan_chains: Vec<&str> = plan.tls_chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        wire_chains,
        // Istio's order: name, then namespace (G-2).
        [
            "default/gw-a/https-a",
            "other/gw-a/https-a",
            "other/gw-a/https-a#2",
            "default/gw-b/https-b"
        ]
    );
    assert_eq!(plan_chains, wire_chains);
    // Plain-text servers have no chain of their own.
    let plain = out.wire.listeners.iter().find(|l| l.port == 80).unwrap();
    assert!(plain.servers.iter().all(|s| s.filter_chain.is_none()));
}
