//! VirtualService binding to Gateways (V-1) and visibility (V-4).

use super::context::Ctx;
use super::servers::PortGroup;
use crate::istio::VirtualService;

/// Resolves a `gateways` entry to `ns/name` (V-1): `ns/name` as is, a short name in the VS
/// namespace, the legacy FQDN form `name.ns.svc.cluster.local` to `ns/name`.
pub(super) fn gateway_ref(name: &str, vs_namespace: &str) -> String {
    if name.contains('/') {
        return name.to_string();
    }
    let mut labels = name.split('.');
    match (labels.next(), labels.next()) {
        (Some(gw), Some(ns)) => format!("{ns}/{gw}"),
        _ => format!("{vs_namespace}/{name}"),
    }
}

/// The Gateways a VS binds to, resolved; `mesh` is skipped (it means sidecars). `None` when
/// `gateways` is omitted (= mesh only).
pub(super) fn bound_gateways(vs: &VirtualService) -> Option<Vec<String>> {
    let list = vs.spec.gateways.as_ref()?;
    Some(
        list.iter()
            .filter(|g| g.as_str() != "mesh")
            .map(|g| gateway_ref(g, vs.namespace()))
            .collect(),
    )
}

/// Visibility of an object owned by `owner_ns` from `target_ns` (V-4), as its V-8 group:
/// `0` private to the namespace (`.`), `1` exported to it by name, `2` public (`*` or
/// omitted); `None` when invisible.
pub(super) fn visibility_group(
    export_to: Option<&[String]>,
    owner_ns: &str,
    target_ns: &str,
) -> Option<u8> {
    let list = match export_to {
        None | Some([]) => return Some(2),
        Some(list) => list,
    };
    let mut group = None;
    for entry in list {
        let g = match entry.as_str() {
            "." if owner_ns == target_ns => Some(0),
            ns if ns == target_ns => Some(1),
            "*" => Some(2),
            _ => None,
        };
        group = match (group, g) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
    }
    group
}

/// Reports VirtualServices that have no effect at this gateway, saying why (V-1, V-3, V-4).
pub(super) fn report_unused_virtual_services(ctx: &mut Ctx<'_>, _ports: &[PortGroup<'_>]) {
    let ns = ctx.identity.namespace.clone();
    let known: std::collections::BTreeSet<String> = ctx
        .gateways
        .iter()
        .map(|g| format!("{}/{}", g.namespace(), g.name()))
        .collect();
    for vs in ctx.virtual_services.clone() {
        let reference = vs.reference();
        if ctx.used_virtual_services.contains(&reference) {
            continue;
        }
        let selected_gateways = ctx.selected_gateways.clone();
        let mut r = ctx.reporter(vs);
        let Some(gateways) = bound_gateways(vs) else {
            r.warning(
                "spec.gateways",
                "`gateways` is omitted, which means `mesh` only: the VirtualService does not apply to any gateway",
                Some("V-1"),
            );
            continue;
        };
        for g in gateways.iter().filter(|g| !known.contains(*g)) {
            r.warning(
                "spec.gateways",
                format!("Gateway {g} does not exist"),
                Some("V-1"),
            );
        }
        let selected: Vec<&String> = gateways
            .iter()
            .filter(|g| selected_gateways.contains(*g))
            .collect();
        if selected.is_empty() {
            r.info(
                "spec.gateways",
                "not bound to any Gateway that selects this gateway workload",
                Some("V-1"),
            );
        } else if visibility_group(vs.spec.export_to.as_deref(), vs.namespace(), &ns).is_none() {
            r.warning(
                "spec.exportTo",
                format!("not exported to the gateway namespace {ns}: invisible to the gateway"),
                Some("V-4"),
            );
        } else {
            r.warning(
                "spec.hosts",
                "no host matches a host of the bound Gateway servers (or no rule applies to their ports): no route produced",
                Some("V-3"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V-1: gateway names resolve to `ns/name`.
    #[test]
    fn v1_gateway_refs() {
        assert_eq!(gateway_ref("my-gateway", "default"), "default/my-gateway");
        assert_eq!(gateway_ref("istio-system/gw", "default"), "istio-system/gw");
        assert_eq!(gateway_ref("gw.ns1.svc.cluster.local", "default"), "ns1/gw");
    }

    /// V-4: exportTo groups.
    #[test]
    fn v4_export_to() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(visibility_group(None, "a", "gw"), Some(2));
        assert_eq!(visibility_group(Some(&s(&["*"])), "a", "gw"), Some(2));
        assert_eq!(visibility_group(Some(&s(&["."])), "a", "gw"), None);
        assert_eq!(visibility_group(Some(&s(&["."])), "gw", "gw"), Some(0));
        assert_eq!(visibility_group(Some(&s(&["gw", "*"])), "a", "gw"), Some(1));
        assert_eq!(visibility_group(Some(&s(&["other"])), "a", "gw"), None);
    }
}
