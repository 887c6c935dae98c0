//! TLS passthrough (G-3, G-6): `VirtualService.tls` SNI routes of passthrough servers, each
//! split over its weighted destinations (V-18).

use super::bind::gateway_ref;
use super::context::Ctx;
use super::hosts::{intersect, resolve_short_name};
use super::servers::{PortGroup, ServerMode};
use super::tcp::weighted;
use crate::plan::PassthroughPlan;

/// SNI → cluster routes of the passthrough servers on a port, in merge order.
pub(super) fn build(ctx: &mut Ctx<'_>, group: &PortGroup<'_>) -> Vec<PassthroughPlan> {
    let mut out: Vec<PassthroughPlan> = Vec::new();
    for server in group
        .servers
        .iter()
        .filter(|s| s.mode == ServerMode::Passthrough)
    {
        for vs in ctx.virtual_services_for(&server.gateway_ref) {
            let ns = vs.namespace().to_string();
            let allowed: Vec<String> = server.hosts_for(&ns).map(str::to_string).collect();
            let vs_hosts: Vec<String> = vs
                .spec
                .hosts
                .iter()
                .map(|h| resolve_short_name(h, &ns))
                .collect();
            for (i, rule) in vs.spec.tls.iter().enumerate() {
                let field = format!("spec.tls[{i}]");
                let mut names = Vec::new();
                for m in &rule.matches {
                    if m.port.is_some_and(|p| p != u32::from(group.port)) {
                        continue;
                    }
                    if !m.gateways.is_empty()
                        && !m
                            .gateways
                            .iter()
                            .any(|g| gateway_ref(g, &ns) == server.gateway_ref)
                    {
                        continue;
                    }
                    for sni in &m.sni_hosts {
                        let sni = sni.to_ascii_lowercase();
                        // The SNI must be within the VS hosts and the server hosts.
                        let in_vs = vs_hosts.iter().find_map(|h| intersect(h, &sni));
                        if let Some(sni) =
                            in_vs.and_then(|s| allowed.iter().find_map(|a| intersect(a, &s)))
                            && !names.contains(&sni)
                        {
                            names.push(sni);
                        }
                    }
                }
                if names.is_empty() {
                    continue;
                }
                let Some(clusters) = weighted(ctx, vs, &rule.route, &field, group.port, "tls")
                else {
                    continue;
                };
                ctx.used_virtual_services.insert(vs.reference());
                names.sort();
                out.push(PassthroughPlan {
                    server_names: names,
                    clusters,
                });
            }
        }
    }
    out
}
