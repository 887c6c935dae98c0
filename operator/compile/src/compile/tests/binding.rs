//! VirtualService binding, visibility and host intersection (V-1 … V-4).

use super::*;

fn vs(ns: &str, name: &str, hosts: &str, gateways: &str, extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: {hosts}
  {gateways}
  {extra}
  http:
  - name: {name}
    route: [{{destination: {{host: up.example.org}}}}]
---
"
    )
}

/// V-1: omitted `gateways` means mesh only: not bound, with a warning.
#[test]
fn v1_gateways_omitted_is_mesh_only() {
    let out =
        compile_yaml(&(gateway("default", "gw", "['*']") + &vs("default", "v", "['*']", "", "")));
    assert!(out.wire.listeners[0].virtual_hosts.is_empty());
    let d = with_rule(&out, "V-1");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(d[0].resource, "VirtualService default/v");
}

/// V-1: short names resolve in the VS namespace; `ns/name` and `mesh` work as in Istio.
#[test]
fn v1_gateway_name_resolution() {
    let yaml = gateway("infra", "gw", "['*']")
        + &vs("apps", "short", "[a.com]", "gateways: [gw]", "")
        + &vs(
            "apps",
            "qualified",
            "[b.com]",
            "gateways: [mesh, infra/gw]",
            "",
        )
        + &vs("infra", "same-ns", "[c.com]", "gateways: [gw]", "");
    let out = compile_yaml(&yaml);
    let domains: Vec<&str> = out.wire.listeners[0]
        .virtual_hosts
        .iter()
        .map(|v| v.domains[0].as_str())
        .collect();
    assert_eq!(domains, ["b.com", "c.com"]);
    assert_eq!(
        with_rule(&out, "V-1")[0].resource,
        "VirtualService apps/short"
    );
}

/// V-2: `ns/host` server hosts accept only VirtualServices of that namespace.
#[test]
fn v2_namespace_qualified_server_hosts() {
    let yaml = gateway("default", "gw", "['prod/*', './own.com']")
        + &vs("prod", "p", "[p.com]", "gateways: [default/gw]", "")
        + &vs("dev", "d", "[d.com]", "gateways: [default/gw]", "")
        + &vs("default", "o", "[own.com]", "gateways: [gw]", "");
    let out = compile_yaml(&yaml);
    let domains: Vec<&str> = out.wire.listeners[0]
        .virtual_hosts
        .iter()
        .map(|v| v.domains[0].as_str())
        .collect();
    assert_eq!(domains, ["own.com", "p.com"]);
    assert_eq!(with_rule(&out, "V-3")[0].resource, "VirtualService dev/d");
}

/// V-3: the intersection keeps the more specific side; disjoint hosts produce nothing.
#[test]
fn v3_host_intersection() {
    let yaml = gateway("default", "gw", "['*.example.com']")
        + &vs(
            "default",
            "v",
            "[dev.example.com, example.com, '*']",
            "gateways: [gw]",
            "",
        );
    let out = compile_yaml(&yaml);
    let domains: Vec<&str> = out.wire.listeners[0]
        .virtual_hosts
        .iter()
        .map(|v| v.domains[0].as_str())
        .collect();
    assert_eq!(domains, ["dev.example.com", "*.example.com"]);
}

/// V-3: short VS hosts become `<name>.<ns>.svc.cluster.local`.
#[test]
fn v3_short_vs_host() {
    let yaml =
        gateway("default", "gw", "['*']") + &vs("shop", "v", "[web]", "gateways: [default/gw]", "");
    let out = compile_yaml(&yaml);
    vhost(&out, 80, "web.shop.svc.cluster.local");
}

/// V-4: a VS exported only to its own namespace is invisible to a gateway elsewhere.
#[test]
fn v4_export_to_gateway_namespace() {
    let yaml = gateway("default", "gw", "['*']")
        + &vs(
            "apps",
            "private",
            "[a.com]",
            "gateways: [default/gw]",
            "exportTo: ['.']",
        )
        + &vs(
            "apps",
            "to-gw",
            "[b.com]",
            "gateways: [default/gw]",
            "exportTo: [istio-system]",
        )
        + &vs(
            "apps",
            "public",
            "[c.com]",
            "gateways: [default/gw]",
            "exportTo: ['*']",
        );
    let out = compile_yaml(&yaml);
    let domains: Vec<&str> = out.wire.listeners[0]
        .virtual_hosts
        .iter()
        .map(|v| v.domains[0].as_str())
        .collect();
    assert_eq!(domains, ["b.com", "c.com"]);
    let d = with_rule(&out, "V-4");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].resource, "VirtualService apps/private");
}
