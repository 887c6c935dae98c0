//! Gateway selection and server merge (G-1, G-2, G-5, G-7, G-10).

use super::*;

/// G-1: a Gateway whose selector is not a subset of the workload labels is ignored.
#[test]
fn g1_selector_must_be_subset_of_workload_labels() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: default}
spec:
  selector: {istio: ingressgateway, app: special}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
";
    let out = compile_yaml(yaml);
    assert!(out.wire.listeners.is_empty());
    assert_eq!(with_rule(&out, "G-1").len(), 1);
    let mut id = GatewayIdentity::default();
    id.labels.insert("app".into(), "special".into());
    assert_eq!(compile_for(yaml, &id).wire.listeners.len(), 1);
}

/// G-1: no selector selects every gateway workload.
#[test]
fn g1_no_selector_selects_all() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: any, namespace: default}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
";
    assert_eq!(compile_yaml(yaml).wire.listeners.len(), 1);
}

/// G-2: servers of several Gateways on one port merge in creationTimestamp, name, namespace
/// order; routes of their VirtualServices for one host follow the same order.
#[test]
fn g2_merge_order_is_creation_time_then_name() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a-late, namespace: default, creationTimestamp: '2024-02-01T00:00:00Z'}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [late.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: z-early, namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [early.example.com]
";
    let out = compile_yaml(yaml);
    let names: Vec<&str> = out.wire.listeners[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["default/z-early/http", "default/a-late/http"]);
    assert_eq!(out.envoy.listeners.len(), 1);
}

/// G-2: plain HTTP and TLS on one port conflict; the later server is dropped.
#[test]
fn g2_http_tls_conflict_drops_later_server() {
    let yaml = gateway("default", "a", "['a.com']")
        + "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: tls, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: [b.com]
";
    let out = compile_yaml(&yaml);
    assert_eq!(out.wire.listeners[0].servers.len(), 1);
    let d = with_rule(&out, "G-2");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].resource, "Gateway default/b");
    assert_eq!(d[0].severity, Severity::Error);
}

/// G-2: a TLS server repeating a host of an earlier TLS server on the port is dropped.
#[test]
fn g2_duplicate_tls_host_drops_server() {
    let tls = |name: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: tls, protocol: TLS}}
    tls: {{mode: PASSTHROUGH}}
    hosts: [same.com]
---
"
        )
    };
    let out = compile_yaml(&(tls("a") + &tls("b")));
    assert_eq!(with_rule(&out, "G-2").len(), 1);
    assert_eq!(with_rule(&out, "G-2")[0].resource, "Gateway default/b");
}

/// G-5: `*/*` widens the list to `*`; hosts are lowercased; invalid hosts are dropped.
#[test]
fn g5_host_normalisation() {
    let out = compile_yaml(&gateway("default", "g", "['*/*', 'x.com']"));
    assert_eq!(out.wire.listeners[0].servers[0].hosts, ["*"]);
    let out = compile_yaml(&gateway("default", "g", "['Dev.Example.COM', 'a.*.com']"));
    assert_eq!(out.wire.listeners[0].servers[0].hosts, ["dev.example.com"]);
    assert_eq!(with_rule(&out, "G-5").len(), 1);
}

/// G-10: a port without any bound VirtualService has no vhost (every request 404).
#[test]
fn g10_no_virtual_service_means_blackhole() {
    let out = compile_yaml(&gateway("default", "my-gateway", "[dev.example.com]"));
    assert!(out.wire.listeners[0].virtual_hosts.is_empty());
    assert_eq!(with_rule(&out, "G-10").len(), 1);
}

/// G-7: an httpsRedirect server redirects its vhosts and gets one for every host without VS.
#[test]
fn g7_https_redirect_vhosts() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [a.com, b.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a.com]
  gateways: [g]
  http:
  - route: [{destination: {host: a.svc.example}}]
";
    let out = compile_yaml(yaml);
    let a = vhost(&out, 80, "a.com");
    assert!(a.require_tls);
    assert_eq!(a.routes.len(), 1);
    let b = vhost(&out, 80, "b.com");
    assert!(b.require_tls);
    assert!(b.routes.is_empty());
    assert!(out.wire.listeners[0].servers[0].https_redirect);
}

/// G-3: an unknown protocol drops its server, reported as an error.
#[test]
fn g3_unknown_protocol_rejected() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 3306, name: mysql, protocol: SCTP}
    hosts: ['*']
";
    let out = compile_yaml(yaml);
    assert!(out.envoy.listeners.is_empty());
    assert_eq!(with_rule(&out, "G-3")[0].severity, Severity::Error);
}

/// G-13: the port offset changes only the bind port.
#[test]
fn g13_port_offset_changes_bind_port_only() {
    let loaded = load_str(&gateway("default", "g", "['*']"), None);
    let out = compile(
        &loaded.resources,
        &GatewayIdentity::default(),
        &CompileOptions {
            port_offset: 10000,
            ..CompileOptions::default()
        },
    );
    assert_eq!(out.wire.listeners[0].port, 80);
    assert_eq!(out.wire.listeners[0].bind_port, Some(10080));
    assert_eq!(out.envoy.listeners[0].bind_port, 10080);
    assert_eq!(out.envoy.listeners[0].gateway_port, 80);
}

/// G-2/V-8: routes for one host follow the Gateway merge order first, then VS order: a VS
/// bound to the earlier Gateway comes first even when it is newer.
#[test]
fn g2_routes_follow_gateway_merge_order() {
    let gw = |name: &str, ts: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: default, creationTimestamp: '{ts}'}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ['*']
---
"
        )
    };
    let vs = |name: &str, ts: &str, gateway: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default, creationTimestamp: '{ts}'}}
spec:
  hosts: [a.com]
  gateways: [{gateway}]
  http:
  - {{name: {name}, match: [{{uri: {{prefix: /{name}}}}}], route: [{{destination: {{host: x.org}}}}]}}
---
"
        )
    };
    let yaml = gw("first", "2024-01-01T00:00:00Z")
        + &gw("second", "2024-02-01T00:00:00Z")
        + &vs("old", "2023-01-01T00:00:00Z", "second")
        + &vs("new", "2025-01-01T00:00:00Z", "first");
    assert_eq!(
        route_names(vhost(&compile_yaml(&yaml), 80, "a.com")),
        ["new", "old"]
    );
}

/// Two resources with one `Kind ns/name`: the first in Istio order wins, the other is reported.
#[test]
fn duplicate_resources_are_reported() {
    let yaml = gateway("default", "g", "[a.com]") + &gateway("default", "g", "[b.com]");
    let out = compile_yaml(&yaml);
    assert_eq!(out.wire.listeners[0].servers.len(), 1);
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.message.contains("more than once"))
    );
}

/// G-6/V-18: a passthrough rule's destinations split its connections by weight, as a TCP
/// rule's do (weight 0 takes none); a negative weight refuses the VirtualService.
#[test]
fn g6_passthrough_destinations_are_weighted() {
    let yaml = |weights: (i64, i64, i64)| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: tls, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: tls, protocol: TLS}}
    tls: {{mode: PASSTHROUGH}}
    hosts: ['*.example.com']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: default}}
spec:
  hosts: [shop.example.com]
  gateways: [tls]
  tls:
  - match: [{{sniHosts: [shop.example.com]}}]
    route:
    - {{destination: {{host: a.example.org, port: {{number: 443}}}}, weight: {}}}
    - {{destination: {{host: b.example.org, port: {{number: 443}}}}, weight: {}}}
    - {{destination: {{host: c.example.org, port: {{number: 443}}}}, weight: {}}}
",
            weights.0, weights.1, weights.2
        )
    };
    let out = compile_yaml(&yaml((75, 25, 0)));
    let listener = &out.envoy.listeners[0];
    let clusters: Vec<(&str, u32)> = listener.passthrough[0]
        .clusters
        .iter()
        .map(|c| (c.cluster.as_str(), c.weight))
        .collect();
    assert_eq!(
        clusters,
        [
            ("outbound|443||a.example.org", 75),
            ("outbound|443||b.example.org", 25)
        ]
    );
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:#?}",
        out.diagnostics
    );

    let out = compile_yaml(&yaml((75, -1, 0)));
    assert!(out.envoy.listeners.iter().all(|l| l.passthrough.is_empty()));
    let error = with_rule(&out, "V-18")
        .into_iter()
        .find(|d| d.severity == Severity::Error)
        .expect("a negative weight is an error");
    assert_eq!(error.field.as_deref(), Some("spec.tls[0].route[1].weight"));
}
