//! G-15: TCP servers and `VirtualService.tcp` rules.

use super::*;
use crate::diagnostics::Effect;
use crate::plan::{ListenerPlan, WeightedClusterPlan};

const GATEWAY: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
  - port: {number: 27017, name: mongo, protocol: MONGO}
    hosts: ['*']
";

fn tcp_listener(out: &CompileOutput) -> Option<&ListenerPlan> {
    out.envoy.listeners.iter().find(|l| l.gateway_port == 27017)
}

fn weights(out: &CompileOutput) -> Vec<(String, u32)> {
    let tcp = tcp_listener(out)
        .and_then(|l| l.tcp.as_ref())
        .expect("a TCP listener");
    tcp.clusters
        .iter()
        .map(|WeightedClusterPlan { cluster, weight }| (cluster.clone(), *weight))
        .collect()
}

/// The first rule that applies to the port wins; its destinations keep their weights.
#[test]
fn g15_the_first_applying_tcp_rule_takes_the_port() {
    let out = compile_yaml(&format!(
        "{GATEWAY}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mongo, namespace: default}}
spec:
  hosts: ['*']
  gateways: [bookinfo-gateway]
  tcp:
  - match: [{{port: 3306}}]
    route: [{{destination: {{host: mysql, port: {{number: 3306}}}}}}]
  - match: [{{port: 27017}}]
    route:
    - {{destination: {{host: mongodb, port: {{number: 27017}}}}, weight: 80}}
    - {{destination: {{host: mongodb-v2, port: {{number: 27017}}}}, weight: 20}}
    - {{destination: {{host: never, port: {{number: 27017}}}}, weight: 0}}
  - route: [{{destination: {{host: later, port: {{number: 27017}}}}}}]
"
    ));
    assert_eq!(
        weights(&out),
        [
            (
                "outbound|27017||mongodb.default.svc.cluster.local".to_string(),
                80
            ),
            (
                "outbound|27017||mongodb-v2.default.svc.cluster.local".to_string(),
                20
            ),
        ]
    );
    let listener = tcp_listener(&out).unwrap();
    assert_eq!(listener.name, "tcp.27017");
    assert!(listener.tls_chains.is_empty() && listener.passthrough.is_empty());
    assert!(
        out.wire.listeners.iter().all(|l| l.port != 27017),
        "no HTTP filter runs on a TCP port"
    );
    assert!(!out.envoy.clusters.iter().any(|c| c.name.contains("never")));
    assert!(
        !super::super::super::diagnostics::has_errors(&out.diagnostics),
        "{:#?}",
        out.diagnostics
    );
}

/// A TCP server no rule applies to gets no listener, as in Istio, and a warning says so.
#[test]
fn g15_a_tcp_server_without_a_rule_listens_nowhere() {
    let out = compile_yaml(GATEWAY);
    assert!(tcp_listener(&out).is_none());
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.rule == Some("G-15") && d.message.contains("nothing listens")),
        "{:#?}",
        out.diagnostics
    );
    assert!(out.envoy.listeners.iter().any(|l| l.gateway_port == 80));
}

/// A VirtualService whose hosts do not meet the server's does not apply; a block naming another
/// Gateway does not either; `destinationSubnets` is not evaluated at a gateway (Istio's
/// `l4SingleMatch` checks only the port and the gateways), so its block applies.
#[test]
fn g15_hosts_gateways_and_subnets() {
    let gateway = GATEWAY.replace("hosts: ['*']\n\"", "");
    let gateway = gateway.replacen(
        "  - port: {number: 27017, name: mongo, protocol: MONGO}\n    hosts: ['*']",
        "  - port: {number: 27017, name: mongo, protocol: MONGO}\n    hosts: [db.example.com]",
        1,
    );
    let out = compile_yaml(&format!(
        "{gateway}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: other-host, namespace: default}}
spec:
  hosts: [web.example.com]
  gateways: [bookinfo-gateway]
  tcp: [{{route: [{{destination: {{host: wrong-host}}}}]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: rules, namespace: default}}
spec:
  hosts: [db.example.com]
  gateways: [bookinfo-gateway]
  tcp:
  - match: [{{gateways: [other-gateway]}}]
    route: [{{destination: {{host: wrong-gateway}}}}]
  - match: [{{destinationSubnets: [10.0.0.0/8]}}]
    route: [{{destination: {{host: right, port: {{number: 27017}}}}}}]
  - route: [{{destination: {{host: later}}}}]
"
    ));
    assert_eq!(
        weights(&out),
        [(
            "outbound|27017||right.default.svc.cluster.local".to_string(),
            100
        )]
    );
    let subnets = out
        .diagnostics
        .iter()
        .find(|d| d.field.as_deref() == Some("spec.tcp[1].match[0].destinationSubnets"))
        .expect("destinationSubnets reported");
    assert_eq!(subnets.severity, Severity::Warning);
}

/// G-2: TCP and HTTP servers on one port conflict; at an egress gateway a TCP server is
/// dropped (nothing to allow or audit it by).
#[test]
fn g15_conflicts_and_egress() {
    let out = compile_yaml(&GATEWAY.replace("number: 27017", "number: 80"));
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.rule == Some("G-2") && d.message.contains("this TCP server conflicts")),
        "{:#?}",
        out.diagnostics
    );
    let egress = GatewayIdentity {
        labels: [("istio".to_string(), "egressgateway".to_string())].into(),
        namespace: "istio-system".into(),
    };
    let out = compile_for(&GATEWAY.replace("ingressgateway", "egressgateway"), &egress);
    let dropped = out
        .diagnostics
        .iter()
        .find(|d| d.rule == Some("G-15"))
        .expect("reported");
    assert_eq!(dropped.effect, Some(Effect::DropsPiece));
    assert!(tcp_listener(&out).is_none());
}

/// G-15: a `TLS` server that terminates (SIMPLE) routes the decrypted connections by the
/// first applying tcp rule: its chain carries the certificate and a tcp_proxy plan, next to an
/// HTTPS server's chain on the same port; with no applying rule its chain is left out (its SNI
/// is refused) with a warning, and the HTTP filters never see such a server.
#[test]
fn g15_terminated_tls_servers_route_by_tcp() {
    let yaml = |tcp_port: u16| {
        format!(
            "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [web.example.com]
    tls: {{mode: SIMPLE, credentialName: cert}}
  - port: {{number: 443, name: tls, protocol: TLS}}
    hosts: [db.example.com]
    tls: {{mode: SIMPLE, credentialName: cert}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: v, namespace: default}}
spec:
  hosts: [web.example.com, db.example.com]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: web.default.svc.cluster.local}}}}]
  tcp:
  - match: [{{port: {tcp_port}}}]
    route: [{{destination: {{host: db.default.svc.cluster.local, port: {{number: 5432}}}}}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: cert, namespace: istio-system}}
type: kubernetes.io/tls
data: {{tls.crt: Q0VSVA==, tls.key: S0VZ}}
"
        )
    };
    let out = compile_yaml(&yaml(443));
    let l = &out.envoy.listeners[0];
    let chains: Vec<_> = l
        .tls_chains
        .iter()
        .map(|c| {
            (
                c.server_names.clone(),
                c.tcp.as_ref().map(|t| t.clusters[0].cluster.clone()),
            )
        })
        .collect();
    assert_eq!(
        chains,
        [
            (vec!["web.example.com".to_string()], None),
            (
                vec!["db.example.com".to_string()],
                Some("outbound|5432||db.default.svc.cluster.local".to_string())
            )
        ]
    );
    let servers: Vec<_> = out.wire.listeners[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        servers,
        ["default/gw/https"],
        "the HTTP filters see only the HTTPS server"
    );
    assert!(with_rule(&out, "G-15").is_empty(), "{:#?}", out.diagnostics);

    let out = compile_yaml(&yaml(9999));
    let l = &out.envoy.listeners[0];
    assert_eq!(l.tls_chains.len(), 1, "only the HTTPS chain is left");
    assert!(l.tls_chains[0].tcp.is_none());
    let warned = with_rule(&out, "G-15");
    assert!(
        warned[0].message.contains("default/gw/tls"),
        "{:?}",
        warned[0]
    );
}
