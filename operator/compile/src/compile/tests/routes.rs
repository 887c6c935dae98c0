//! Route lists (V-5 … V-8, V-13, V-16, V-26).

use portcullis_core::wire::{StringMatch, ValueMatch};

use super::*;

/// V-5: one route per (rule, match) in order; names per V-26.
#[test]
fn v5_one_route_per_match_block() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - name: api
    match:
    - {name: v1, uri: {prefix: /v1}}
    - uri: {prefix: /v2}
    route: [{destination: {host: a.example.org}}]
  - match:
    - uri: {exact: /x}
    route: [{destination: {host: b.example.org}}]
";
    let out = compile_yaml(&yaml);
    let vh = vhost(&out, 80, "*");
    assert_eq!(route_names(vh), ["api.v1", "api", "default/v/1/0"]);
    assert_eq!(
        vh.routes[0].matcher.uri,
        Some(StringMatch::Prefix("/v1".into()))
    );
    assert_eq!(vh.routes[0].virtual_service, "default/v");
}

/// V-5/V-16: match blocks with another port, another gateway, or source labels/namespace
/// that do not describe the gateway pod are dropped.
#[test]
fn v5_configuration_time_selectors() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw, mesh]
  http:
  - match:
    - {name: other-port, port: 8080, uri: {prefix: /a}}
    - {name: this-port, port: 80, uri: {prefix: /b}}
    - {name: mesh-only, gateways: [mesh], uri: {prefix: /c}}
    - {name: this-gw, gateways: [default/gw], uri: {prefix: /d}}
    - {name: other-labels, sourceLabels: {app: web}, uri: {prefix: /e}}
    - {name: gw-labels, sourceLabels: {istio: ingressgateway}, uri: {prefix: /f}}
    - {name: other-ns, sourceNamespace: default, uri: {prefix: /g}}
    - {name: gw-ns, sourceNamespace: istio-system, uri: {prefix: /h}}
    name: r
    route: [{destination: {host: a.example.org}}]
";
    let out = compile_yaml(&yaml);
    assert_eq!(
        route_names(vhost(&out, 80, "*")),
        ["r.this-port", "r.this-gw", "r.gw-labels", "r.gw-ns"]
    );
}

/// V-5/V-6: emission of a VS stops after its first catch-all.
#[test]
fn v5_stop_after_catch_all() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - name: first
    match: [{uri: {prefix: /a}}]
    route: [{destination: {host: a.example.org}}]
  - name: all
    match: [{uri: {prefix: /}}]
    route: [{destination: {host: a.example.org}}]
  - name: unreachable
    match: [{uri: {prefix: /b}}]
    route: [{destination: {host: a.example.org}}]
";
    assert_eq!(
        route_names(vhost(&compile_yaml(&yaml), 80, "*")),
        ["first", "all"]
    );
}

/// V-8: several VSes for one host are concatenated in Istio order; catch-alls move last.
#[test]
fn v8_concatenation_and_catch_alls_last() {
    let v = |name: &str, ts: &str, rules: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default, creationTimestamp: '{ts}'}}
spec:
  hosts: [a.com]
  gateways: [gw]
  http:
{rules}
---
"
        )
    };
    let yaml = gateway("default", "gw", "['*']")
        + &v(
            "older",
            "2024-01-01T00:00:00Z",
            "  - {name: older-all, route: [{destination: {host: x.org}}]}",
        )
        + &v(
            "newer",
            "2024-02-01T00:00:00Z",
            "  - {name: newer-api, match: [{uri: {prefix: /api}}], route: [{destination: {host: y.org}}]}",
        );
    let out = compile_yaml(&yaml);
    assert_eq!(
        route_names(vhost(&out, 80, "a.com")),
        ["newer-api", "older-all"]
    );
}

/// V-13/V-14/V-15: headers lowercased, `{}` = present, query names kept as written.
#[test]
fn v13_header_and_query_matches() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - match:
    - headers: {X-User: {exact: jason}, x-any: {}}
      withoutHeaders: {x-block: {regex: '*'}}
      queryParams: {Debug: {regex: '\\d+'}}
      method: {exact: GET}
      ignoreUriCase: true
      uri: {prefix: ''}
    route: [{destination: {host: a.example.org}}]
";
    let out = compile_yaml(&yaml);
    let m = &vhost(&out, 80, "*").routes[0].matcher;
    assert_eq!(
        m.headers.get("x-user"),
        Some(&ValueMatch::Exact("jason".into()))
    );
    assert_eq!(m.headers.get("x-any"), Some(&ValueMatch::Present(true)));
    assert_eq!(
        m.without_headers.get("x-block"),
        Some(&ValueMatch::Present(true))
    );
    assert_eq!(
        m.query_params.get("Debug"),
        Some(&ValueMatch::Regex("\\d+".into()))
    );
    assert_eq!(m.method, Some(StringMatch::Exact("GET".into())));
    assert_eq!(m.uri, Some(StringMatch::Prefix(String::new())));
    assert!(m.ignore_uri_case);
}

/// V-10: an invalid regex drops the match block, with an error at its field.
#[test]
fn v10_invalid_regex_drops_block() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - name: r
    match:
    - uri: {regex: '('}
    - uri: {exact: /ok}
    route: [{destination: {host: a.example.org}}]
";
    let out = compile_yaml(&yaml);
    assert_eq!(route_names(vhost(&out, 80, "*")), ["r"]);
    let d = with_rule(&out, "V-10");
    assert_eq!(d[0].field.as_deref(), Some("spec.http[0].match[0].uri"));
}
