//! TCP servers and terminated TLS servers (G-15): the first `VirtualService.tcp` rule that
//! applies takes their connections, split over the rule's weighted destinations.

use super::actions::dest_ref;
use super::bind::gateway_ref;
use super::context::Ctx;
use super::hosts::{intersect, resolve_short_name};
use super::servers::{MergedServer, PortGroup, ServerMode};
use crate::istio::{L4MatchAttributes, VirtualService};
use crate::plan::{TcpPlan, WeightedClusterPlan};

/// The route of the TCP servers on `group`'s port: the first rule, over the VirtualServices of
/// its servers in V-8 order, whose VirtualService hosts meet the server's hosts and one of
/// whose match blocks applies. `None` when no rule applies (nothing listens, as in Istio).
pub(super) fn build(ctx: &mut Ctx<'_>, group: &PortGroup<'_>) -> Option<TcpPlan> {
    for server in group.servers.iter().filter(|s| s.mode == ServerMode::Tcp) {
        if let Some(plan) = route_of(ctx, server, group.port) {
            return Some(plan);
        }
    }
    let first = &group.servers[0];
    ctx.reporter(first.gateway).warning(
        &first.field,
        format!(
            "no VirtualService tcp rule applies to port {}; nothing listens there",
            group.port
        ),
        Some("G-15"),
    );
    None
}

/// Where the decrypted connections of a terminated `TLS` server go (G-15): its first applying
/// tcp rule, as for a TCP server. `None` (with a warning) drops the server's filter chain, so
/// its SNI matches no chain and the connection is refused, as Istio builds no chain for it.
pub(super) fn terminated(
    ctx: &mut Ctx<'_>,
    server: &MergedServer<'_>,
    port: u16,
) -> Option<TcpPlan> {
    let plan = route_of(ctx, server, port);
    if plan.is_none() {
        ctx.reporter(server.gateway).warning(
            &server.field,
            format!(
                "no VirtualService tcp rule applies to TLS server {} on port {port}; its connections are refused",
                server.name
            ),
            Some("G-15"),
        );
    }
    plan
}

/// The first tcp rule, over the VirtualServices bound to `server` in V-8 order, whose
/// VirtualService hosts meet the server's hosts and one of whose match blocks applies.
fn route_of(ctx: &mut Ctx<'_>, server: &MergedServer<'_>, port: u16) -> Option<TcpPlan> {
    for vs in ctx.virtual_services_for(&server.gateway_ref) {
        let ns = vs.namespace().to_string();
        let meets = vs.spec.hosts.iter().any(|h| {
            let h = resolve_short_name(h, &ns);
            server.hosts_for(&ns).any(|a| intersect(a, &h).is_some())
        });
        if !meets {
            continue;
        }
        for (i, rule) in vs.spec.tcp.iter().enumerate() {
            let field = format!("spec.tcp[{i}]");
            let applies = rule.matches.is_empty()
                || rule.matches.iter().enumerate().any(|(j, m)| {
                    applies(
                        ctx,
                        vs,
                        m,
                        &server.gateway_ref,
                        port,
                        &format!("{field}.match[{j}]"),
                    )
                });
            if !applies {
                continue;
            }
            if let Some(clusters) = weighted(ctx, vs, &rule.route, &field, port, "tcp") {
                ctx.used_virtual_services.insert(vs.reference());
                return Some(TcpPlan { clusters });
            }
        }
    }
    None
}

fn applies(
    ctx: &mut Ctx<'_>,
    vs: &VirtualService,
    m: &L4MatchAttributes,
    gateway: &str,
    port: u16,
    field: &str,
) -> bool {
    for (set, name) in [
        (!m.destination_subnets.is_empty(), "destinationSubnets"),
        (m.source_labels.is_some(), "sourceLabels"),
        (m.source_namespace.is_some(), "sourceNamespace"),
    ] {
        if set {
            ctx.reporter(vs).warning(
                &format!("{field}.{name}"),
                format!(
                    "{name} is not evaluated for tcp rules at a gateway (as in Istio); ignored"
                ),
                Some("G-15"),
            );
        }
    }
    if m.port.is_some_and(|p| p != u32::from(port)) {
        return false;
    }
    let ns = vs.namespace();
    m.gateways.is_empty() || m.gateways.iter().any(|g| gateway_ref(g, ns) == gateway)
}

/// V-18 for TCP and TLS passthrough rules (`kind`: `tcp` or `tls`): a single destination
/// takes every connection; weight 0 takes none; a negative weight or none left refuses the
/// VirtualService.
pub(super) fn weighted(
    ctx: &mut Ctx<'_>,
    vs: &VirtualService,
    routes: &[crate::istio::RouteDestination],
    field: &str,
    port: u16,
    kind: &str,
) -> Option<Vec<WeightedClusterPlan>> {
    let ns = vs.namespace().to_string();
    let mut r = ctx.reporter(vs);
    if routes.is_empty() {
        r.error(
            &format!("{field}.route"),
            format!("{kind} rule has no destination; rule dropped"),
            Some("V-18"),
        );
        return None;
    }
    let single = routes.len() == 1;
    let mut picked = Vec::new();
    for (k, d) in routes.iter().enumerate() {
        let f = format!("{field}.route[{k}]");
        let weight = d.weight.unwrap_or(0);
        let Ok(weight) = u32::try_from(weight) else {
            r.error(
                &format!("{f}.weight"),
                "weight must be 0 or more; rule dropped",
                Some("V-18"),
            );
            return None;
        };
        let dest = dest_ref(&mut r, &ns, &d.destination, &format!("{f}.destination"))?;
        let weight = if single { 100 } else { weight };
        if weight > 0 {
            picked.push((dest, weight));
        }
    }
    if picked.is_empty() {
        r.error(
            &format!("{field}.route"),
            "every destination has weight 0; rule dropped",
            Some("V-18"),
        );
        return None;
    }
    let clusters = picked
        .into_iter()
        .map(|(dest, weight)| WeightedClusterPlan {
            cluster: super::routes::cluster_of(ctx, vs, &dest, port),
            weight,
        })
        .collect();
    Some(clusters)
}
