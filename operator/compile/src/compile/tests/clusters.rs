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

/// E-1: `connectionPool.http.h2UpgradePolicy: UPGRADE` makes an HTTP/1.1 port's cluster
/// HTTP/2; the subset's and the port-level settings override the rule's; `DO_NOT_UPGRADE` and
/// `DEFAULT` leave HTTP/1.1; an HTTP2 port stays HTTP/2 whatever the rule says.
#[test]
fn h2_upgrade_policy_follows_the_most_specific_setting() {
    let yaml = |policy: &str| {
        gateway("default", "gw", "['*']")
            + &format!(
                "
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: web, namespace: default}}
spec:
  hosts: [web.example.org, grpc.example.org]
  ports: [{{number: 80, name: http, protocol: HTTP}}, {{number: 81, name: grpc, protocol: GRPC}}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web, namespace: default}}
spec:
  host: web.example.org
{policy}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: grpc, namespace: default}}
spec:
  host: grpc.example.org
  trafficPolicy: {{connectionPool: {{http: {{h2UpgradePolicy: DO_NOT_UPGRADE}}}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: v, namespace: default}}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route:
    - {{destination: {{host: web.example.org, port: {{number: 80}}}}, weight: 50}}
    - {{destination: {{host: web.example.org, subset: s, port: {{number: 80}}}}, weight: 25}}
    - {{destination: {{host: grpc.example.org, port: {{number: 81}}}}, weight: 25}}
"
            )
    };
    let http2 = |out: &CompileOutput| {
        out.envoy
            .clusters
            .iter()
            .map(|c| (c.name.clone(), c.http2))
            .collect::<Vec<_>>()
    };
    let upgrade = |v: &str| format!("{{connectionPool: {{http: {{h2UpgradePolicy: {v}}}}}}}");
    let cases = [
        (
            format!(
                "  trafficPolicy: {}\n  subsets: [{{name: s}}]",
                upgrade("UPGRADE")
            ),
            [true, true],
        ),
        (
            format!(
                "  trafficPolicy: {}\n  subsets: [{{name: s, trafficPolicy: {}}}]",
                upgrade("UPGRADE"),
                upgrade("DO_NOT_UPGRADE")
            ),
            [true, false],
        ),
        (
            "  trafficPolicy:\n    portLevelSettings: [{port: {number: 80}, connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}]\n  subsets: [{name: s}]".to_string(),
            [true, true],
        ),
        (
            format!(
                "  trafficPolicy: {}\n  subsets: [{{name: s}}]",
                upgrade("DEFAULT")
            ),
            [false, false],
        ),
    ];
    for (policy, [plain, subset]) in cases {
        let out = compile_yaml(&yaml(&policy));
        assert_eq!(
            http2(&out),
            [
                ("outbound|80|s|web.example.org".to_string(), subset),
                ("outbound|80||web.example.org".to_string(), plain),
                ("outbound|81||grpc.example.org".to_string(), true),
            ],
            "{policy}"
        );
    }
    let out = compile_yaml(&yaml(&format!(
        "  trafficPolicy: {}\n  subsets: [{{name: s}}]",
        upgrade("SOMETIMES")
    )));
    let warned = with_rule(&out, "E-1");
    assert!(warned[0].message.contains("SOMETIMES"), "{:?}", warned[0]);
}
