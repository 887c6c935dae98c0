//! Clusters from ServiceEntries and DestinationRules (V-18, E-1).

use crate::plan::{Discovery, Endpoint};

use super::*;

const REGISTRY: &str = "
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.example.org]
  ports: [{number: 9080, name: http, protocol: HTTP2}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}, ports: {http: 19080}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.example.org
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {tls: {mode: SIMPLE, sni: v2.reviews}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.ext.org]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: default}
spec:
  host: api.ext.org
  trafficPolicy: {tls: {mode: SIMPLE}}
---
";

fn with_route(route: &str) -> CompileOutput {
    let yaml = gateway("default", "gw", "['*']")
        + REGISTRY
        + "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route:
" + route;
    compile_yaml(&yaml)
}

/// E-1/V-18: STATIC endpoints filtered by the subset's labels; endpoint ports by port name;
/// subset TLS policy; HTTP2 from the port protocol.
#[test]
fn static_endpoints_by_subset() {
    let out = with_route(
        "    - {destination: {host: reviews.example.org, subset: v1}, weight: 50}\n    - {destination: {host: reviews.example.org, subset: v2}, weight: 50}\n",
    );
    let c: Vec<_> = out.envoy.clusters.iter().collect();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name, "outbound|9080|v1|reviews.example.org");
    assert_eq!(
        c[0].discovery,
        Discovery::Static(vec![Endpoint {
            address: "10.0.0.1".into(),
            port: 9080
        }])
    );
    assert!(c[0].http2);
    assert_eq!(c[0].tls, None);
    assert_eq!(
        c[1].discovery,
        Discovery::Static(vec![Endpoint {
            address: "10.0.0.2".into(),
            port: 19080
        }])
    );
    assert_eq!(
        c[1].tls.as_ref().map(|t| t.sni.as_str()),
        Some("v2.reviews")
    );
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

/// E-1: DNS resolution uses the host; DestinationRule SIMPLE TLS sends the host as SNI.
#[test]
fn dns_with_tls_origination() {
    let out = with_route("    - destination: {host: api.ext.org}\n");
    let c = &out.envoy.clusters[0];
    assert_eq!(c.name, "outbound|443||api.ext.org");
    assert_eq!(
        c.discovery,
        Discovery::Dns(vec![Endpoint {
            address: "api.ext.org".into(),
            port: 443
        }])
    );
    assert_eq!(c.tls.as_ref().map(|t| t.sni.as_str()), Some("api.ext.org"));
}

/// V-18: an undefined subset keeps the route (503 NC at runtime) and is reported.
#[test]
fn undefined_subset_is_reported() {
    let out = with_route("    - destination: {host: reviews.example.org, subset: v9}\n");
    assert!(out.envoy.clusters.is_empty());
    assert_eq!(out.wire.listeners[0].virtual_hosts[0].routes.len(), 1);
    let d = with_rule(&out, "V-18");
    assert!(d[0].message.contains("v9"), "{}", d[0].message);
}
