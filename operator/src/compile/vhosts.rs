//! Virtual hosts of one HTTP port (G-7, G-8, G-10, V-2, V-3, V-8).

use std::collections::BTreeSet;

use portcullis_core::config::{Listener, Server, VirtualHost};

use super::context::Ctx;
use super::hosts::{intersect, resolve_short_name};
use super::matches::is_catch_all;
use super::servers::{PortGroup, ServerMode};

/// The wire listener of a port that carries HTTP (plain or terminated); `None` for a port with
/// only passthrough servers (no HTTP is ever seen there).
pub fn build_listener(
    ctx: &mut Ctx<'_>,
    group: &PortGroup<'_>,
    bind_port: u16,
) -> Option<Listener> {
    let http_servers: Vec<_> = group
        .servers
        .iter()
        .filter(|s| s.mode != ServerMode::Passthrough)
        .collect();
    if http_servers.is_empty() {
        return None;
    }
    let mut vhosts: Vec<VirtualHost> = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for server in &http_servers {
        let mut server_domains = BTreeSet::new();
        for vs in ctx.virtual_services_for(&server.gateway_ref) {
            let allowed: Vec<&str> = server.hosts_for(vs.namespace()).collect();
            let mut domains: Vec<String> = Vec::new();
            for vs_host in &vs.spec.hosts {
                let vs_host = resolve_short_name(vs_host, vs.namespace());
                for server_host in &allowed {
                    if let Some(d) = intersect(server_host, &vs_host)
                        && !domains.contains(&d)
                    {
                        domains.push(d);
                    }
                }
            }
            if domains.is_empty() {
                continue;
            }
            let routes = super::routes::emit(ctx, vs, &server.gateway_ref, group.port);
            if !routes.is_empty() {
                ctx.used_virtual_services.insert(vs.reference());
            }
            for domain in domains {
                server_domains.insert(domain.clone());
                let vh = vhost(&mut vhosts, &domain, group.port);
                vh.require_tls |= server.https_redirect;
                // One VS adds its routes to a vhost once, even through several servers (G-8).
                if seen.insert((domain, vs.reference())) {
                    vh.routes.extend(routes.iter().cloned());
                }
            }
        }
        // G-7: a redirecting server answers every listed host, bound VS or not.
        if server.https_redirect {
            for h in &server.hosts {
                if !server_domains.contains(&h.dns) {
                    vhost(&mut vhosts, &h.dns, group.port).require_tls = true;
                }
            }
        }
    }
    for vh in &mut vhosts {
        // V-8: catch-alls last, keeping the relative order of everything else.
        vh.routes.sort_by_key(|r| is_catch_all(&r.matcher));
    }
    let terminated: Vec<_> = http_servers
        .iter()
        .filter(|s| s.mode == ServerMode::Terminated)
        .collect();
    if let [_, second, ..] = terminated.as_slice() {
        // G-11: Istio gives each HTTPS server its own route table, chosen by SNI; the wire format
        // has one per port, so a Host of another server on the port is routed instead of 404.
        let port = group.port;
        ctx.reporter(second.gateway).warning(
            &second.field,
            format!("several HTTPS servers on port {port} share one route table in Portcullis: a request whose SNI and Host belong to different servers is routed where Istio answers 404"),
            Some("G-11"),
        );
    }
    if vhosts.is_empty()
        && let Some(first) = http_servers.first()
    {
        let port = group.port;
        ctx.reporter(first.gateway).info(
            &first.field,
            format!(
                "no VirtualService produced a route on port {port}: every request on it gets 404"
            ),
            Some("G-10"),
        );
    }
    let servers = http_servers
        .iter()
        .map(|s| Server {
            name: s.name.clone(),
            hosts: s.hosts.iter().map(|h| h.dns.clone()).collect(),
            https_redirect: s.https_redirect,
            tls: s.mode == ServerMode::Terminated,
        })
        .collect();
    Some(Listener {
        port: group.port,
        bind_port: (bind_port != group.port).then_some(bind_port),
        servers,
        // G-10: an empty list is the blackhole (every request 404).
        virtual_hosts: vhosts,
    })
}

fn vhost<'v>(vhosts: &'v mut Vec<VirtualHost>, domain: &str, port: u16) -> &'v mut VirtualHost {
    let idx = match vhosts
        .iter()
        .position(|v| v.domains.first().is_some_and(|d| d == domain))
    {
        Some(i) => i,
        None => {
            vhosts.push(VirtualHost {
                name: format!("{domain}:{port}"),
                domains: vec![domain.to_string()],
                require_tls: false,
                routes: Vec::new(),
            });
            vhosts.len() - 1
        }
    };
    &mut vhosts[idx]
}
