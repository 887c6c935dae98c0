//! Route tables of one HTTP port: one shared by the plain-text servers (G-8), one per
//! terminated HTTPS server (G-11); virtual hosts per G-7, G-10, V-2, V-3, V-8.

use std::collections::{BTreeSet, HashMap};

use portcullis_core::wire::{Listener, Server, VirtualHost};

use super::context::Ctx;
use super::hosts::{intersect, resolve_short_name};
use super::matches::is_catch_all;
use super::servers::{MergedServer, PortGroup, ServerMode};

/// The wire listener of a port that carries HTTP (plain or terminated); `None` for a port with
/// only passthrough servers (no HTTP is ever seen there).
pub(super) fn build_listener(
    ctx: &mut Ctx<'_>,
    group: &PortGroup<'_>,
    bind_port: u16,
) -> Option<Listener> {
    let http_servers: Vec<_> = group
        .servers
        .iter()
        .filter(|s| matches!(s.mode, ServerMode::PlainHttp | ServerMode::Terminated))
        .collect();
    if http_servers.is_empty() {
        return None;
    }
    // G-8: the plain-text servers of a port share one route table; G-11: each terminated HTTPS
    // server has its own, built from that server alone.
    let plain: Vec<_> = http_servers
        .iter()
        .copied()
        .filter(|s| s.mode == ServerMode::PlainHttp)
        .collect();
    let shared = if plain.is_empty() {
        Vec::new()
    } else {
        let vhosts = build_table(ctx, &plain, group.port);
        if vhosts.is_empty()
            && let Some(first) = plain.first()
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
        vhosts
    };
    let mut servers = Vec::with_capacity(http_servers.len());
    for s in &http_servers {
        let terminated = s.mode == ServerMode::Terminated;
        let virtual_hosts = if terminated {
            let vhosts = build_table(ctx, std::slice::from_ref(s), group.port);
            if vhosts.is_empty() {
                let (port, name) = (group.port, &s.name);
                ctx.reporter(s.gateway).info(
                    &s.field,
                    format!(
                        "no VirtualService produced a route for HTTPS server {name} on port {port}: every request whose SNI selects it gets 404"
                    ),
                    Some("G-10"),
                );
            }
            vhosts
        } else {
            Vec::new()
        };
        servers.push(Server {
            name: s.name.clone(),
            hosts: s.hosts.iter().map(|h| h.dns.clone()).collect(),
            https_redirect: s.https_redirect,
            tls: terminated,
            virtual_hosts,
            filter_chain: s.chain.as_ref().map(|c| c.name.clone()),
        });
    }
    Some(Listener {
        port: group.port,
        bind_port: (bind_port != group.port).then_some(bind_port),
        servers,
        // G-10: an empty list is the blackhole (every request 404).
        virtual_hosts: shared,
    })
}

/// One route table built from `servers` in merge order (G-8): for each server, each bound VS,
/// the host intersection with that server's hosts only (V-2, V-3); routes accumulate per
/// domain (V-8); `httpsRedirect` servers answer every listed host (G-7).
fn build_table(ctx: &mut Ctx<'_>, servers: &[&MergedServer<'_>], port: u16) -> Vec<VirtualHost> {
    let mut vhosts = Table::default();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for server in servers {
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
            let routes = super::routes::emit(ctx, vs, &server.gateway_ref, port);
            if !routes.is_empty() {
                ctx.used_virtual_services.insert(vs.reference());
            }
            for domain in domains {
                server_domains.insert(domain.clone());
                let vh = vhosts.vhost(&domain, port);
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
                    vhosts.vhost(&h.dns, port).require_tls = true;
                }
            }
        }
    }
    let mut vhosts = vhosts.vhosts;
    for vh in &mut vhosts {
        // V-8: catch-alls last, keeping the relative order of everything else.
        vh.routes.sort_by_key(|r| is_catch_all(&r.matcher));
    }
    vhosts
}

/// Virtual hosts in the order their domains first appear, found by domain in constant time.
#[derive(Default)]
struct Table {
    vhosts: Vec<VirtualHost>,
    by_domain: HashMap<String, usize>,
}

impl Table {
    fn vhost(&mut self, domain: &str, port: u16) -> &mut VirtualHost {
        let idx = match self.by_domain.get(domain) {
            Some(&i) => i,
            None => {
                self.vhosts.push(VirtualHost {
                    name: format!("{domain}:{port}"),
                    domains: vec![domain.to_string()],
                    require_tls: false,
                    routes: Vec::new(),
                });
                self.by_domain
                    .insert(domain.to_string(), self.vhosts.len() - 1);
                self.vhosts.len() - 1
            }
        };
        &mut self.vhosts[idx]
    }
}
