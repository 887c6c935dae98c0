//! Gateway selection (G-1) and the per-port merge of their servers (G-2, G-3, G-5).

use super::context::Ctx;
use super::hosts::{ServerHost, parse_server_host};
use crate::istio::{Gateway, GatewayServer};
use crate::plan::TlsChainPlan;

/// How a server handles connections (G-3, G-6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ServerMode {
    /// Plain-text HTTP family: HTTP, HTTP2, GRPC, GRPC-WEB.
    PlainHttp,
    /// HTTPS terminated at the gateway (SIMPLE, MUTUAL, OPTIONAL_MUTUAL).
    Terminated,
    /// TLS passed through, routed by SNI (`VirtualService.tls`).
    Passthrough,
    /// TLS terminated at the gateway (protocol `TLS`, SIMPLE, MUTUAL, OPTIONAL_MUTUAL), the
    /// decrypted bytes routed by `VirtualService.tcp` (G-15).
    TerminatedTcp,
    /// Opaque TCP (TCP, MONGO, REDIS, MYSQL), routed by `VirtualService.tcp` (G-15).
    Tcp,
}

impl ServerMode {
    fn is_tls(self) -> bool {
        matches!(
            self,
            ServerMode::Terminated | ServerMode::Passthrough | ServerMode::TerminatedTcp
        )
    }

    /// Servers of one family may share a port (G-2); of two families, they conflict.
    fn family(self) -> &'static str {
        match self {
            ServerMode::PlainHttp => "plain-text HTTP",
            ServerMode::Terminated | ServerMode::Passthrough | ServerMode::TerminatedTcp => "TLS",
            ServerMode::Tcp => "TCP",
        }
    }
}

/// One accepted server.
#[derive(Clone, Debug)]
pub(super) struct MergedServer<'r> {
    pub gateway: &'r Gateway,
    /// `ns/name` of the Gateway.
    pub gateway_ref: String,
    /// `spec.servers[i]`.
    pub field: String,
    /// `<namespace>/<gateway>/<port name>`.
    pub name: String,
    pub mode: ServerMode,
    pub hosts: Vec<ServerHost>,
    pub https_redirect: bool,
    pub chain: Option<TlsChainPlan>,
    /// `bind`: the IP address the port's listener binds (G-4); `None`, the gateway's default.
    pub bind: Option<String>,
}

impl MergedServer<'_> {
    /// The server hosts a VirtualService in `namespace` may use (V-2).
    pub(super) fn hosts_for(&self, namespace: &str) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .filter(move |h| h.namespace.as_deref().is_none_or(|ns| ns == namespace))
            .map(|h| h.dns.as_str())
    }
}

/// All servers on one Gateway port, in merge order.
#[derive(Clone, Debug)]
pub(super) struct PortGroup<'r> {
    pub port: u16,
    /// The port carries TLS (terminated or passthrough); otherwise plain-text HTTP.
    pub tls: bool,
    pub servers: Vec<MergedServer<'r>>,
}

impl PortGroup<'_> {
    /// The address the port's listener binds: its servers' `bind`, one for all (G-4).
    pub(super) fn bind(&self) -> Option<&str> {
        self.servers.first().and_then(|s| s.bind.as_deref())
    }
}

/// Selects the Gateways of this workload and merges their servers per port, sorted by port.
pub(super) fn merge<'r>(ctx: &mut Ctx<'r>) -> Vec<PortGroup<'r>> {
    let mut groups: Vec<PortGroup<'r>> = Vec::new();
    for gateway in ctx.gateways.clone() {
        if !selects(gateway, &ctx.identity.labels) {
            let labels = format!("{:?}", ctx.identity.labels);
            ctx.reporter(gateway).info(
                "spec.selector",
                format!(
                    "selector does not match the gateway workload labels {labels}; Gateway ignored"
                ),
                Some("G-1"),
            );
            continue;
        }
        ctx.selected_gateways
            .insert(format!("{}/{}", gateway.namespace(), gateway.name()));
        for (index, server) in gateway.spec.servers.iter().enumerate() {
            if let Some(merged) = accept_server(ctx, gateway, index, server) {
                add_to_port(ctx, &mut groups, merged, server.port.number as u16);
            }
        }
    }
    groups.sort_by_key(|g| g.port);
    groups
}

/// G-1: a Gateway applies when its selector is a subset of the workload labels; no selector
/// selects every gateway workload.
pub(super) fn selects(
    gateway: &Gateway,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    gateway
        .spec
        .selector
        .as_ref()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn accept_server<'r>(
    ctx: &mut Ctx<'r>,
    gateway: &'r Gateway,
    index: usize,
    server: &GatewayServer,
) -> Option<MergedServer<'r>> {
    let field = format!("spec.servers[{index}]");
    let gw_ns = gateway.namespace().to_string();
    let egress = ctx.identity.is_egress();
    let mut r = ctx.reporter(gateway);
    if server.port.number == 0 || server.port.number > 65535 {
        r.error(
            &format!("{field}.port.number"),
            "port must be 1-65535; server dropped",
            Some("G-3"),
        );
        return None;
    }
    let protocol = server.port.protocol.to_ascii_uppercase();
    let mode_name = server
        .tls
        .as_ref()
        .and_then(|t| t.mode.clone())
        .unwrap_or_else(|| "PASSTHROUGH".into());
    let mode = match protocol.as_str() {
        "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" => {
            if server
                .tls
                .as_ref()
                .is_some_and(|t| t.mode.is_some() || t.credential_name.is_some())
            {
                r.warning(&format!("{field}.tls"), "a plain-text server may only set tls.httpsRedirect; other TLS settings ignored", Some("G-3"));
            }
            ServerMode::PlainHttp
        }
        "HTTPS" | "TLS" if server.tls.is_none() => {
            r.error(
                &format!("{field}.tls"),
                format!("{protocol} servers must have tls settings; server dropped"),
                Some("G-3"),
            );
            return None;
        }
        "HTTPS" | "TLS" => match mode_name.as_str() {
            "PASSTHROUGH" => ServerMode::Passthrough,
            "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL" if protocol == "HTTPS" => {
                ServerMode::Terminated
            }
            "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL" if egress => {
                r.dropped(
                    &format!("{field}.tls.mode"),
                    "a TLS server terminated at an egress gateway routes by tcp, which the egress audit does not see; server dropped",
                    Some("G-15"),
                );
                return None;
            }
            "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL" => ServerMode::TerminatedTcp,
            other => {
                r.dropped(
                    &format!("{field}.tls.mode"),
                    format!("{protocol} with tls.mode {other} is not supported by Portcullis; server dropped"),
                    Some("G-6"),
                );
                return None;
            }
        },
        "TCP" | "MONGO" | "REDIS" | "MYSQL" if egress => {
            r.dropped(&format!("{field}.port.protocol"), format!("{protocol} servers at an egress gateway are not supported by Portcullis: their connections carry no host to allow or audit; server dropped"), Some("G-15"));
            return None;
        }
        "TCP" | "MONGO" | "REDIS" | "MYSQL" => ServerMode::Tcp,
        other => {
            r.error(
                &format!("{field}.port.protocol"),
                format!("unknown protocol {other:?}; server dropped"),
                Some("G-3"),
            );
            return None;
        }
    };
    // G-4: the listener binds this address instead of the gateway's default one.
    let bind = match server.bind.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) if b.starts_with("unix://") => {
            r.dropped(
                &format!("{field}.bind"),
                format!(
                    "bind {b:?}: listening on a Unix domain socket is not supported; server dropped"
                ),
                Some("G-4"),
            );
            return None;
        }
        Some(b) => match b.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                r.error(
                    &format!("{field}.bind"),
                    format!("bind {b:?} is not an IP address or a unix:// path; server dropped"),
                    Some("G-4"),
                );
                return None;
            }
        },
    };
    if server.hosts.is_empty() {
        r.error(
            &format!("{field}.hosts"),
            "a server needs at least one host; server dropped",
            Some("G-5"),
        );
        return None;
    }
    let mut hosts = Vec::new();
    if server.hosts.iter().any(|h| h == "*/*") {
        // G-5: `*/*` widens the whole list to `*`.
        hosts.push(ServerHost {
            namespace: None,
            dns: "*".into(),
        });
    } else {
        for (i, raw) in server.hosts.iter().enumerate() {
            match parse_server_host(raw, &gw_ns) {
                Ok(h) if !hosts.contains(&h) => hosts.push(h),
                Ok(_) => {}
                Err(e) => r.error(
                    &format!("{field}.hosts[{i}]"),
                    format!("{e}; host dropped"),
                    Some("G-5"),
                ),
            }
        }
    }
    if hosts.is_empty() {
        r.error(
            &format!("{field}.hosts"),
            "no valid host left; server dropped",
            Some("G-5"),
        );
        return None;
    }
    let https_redirect =
        mode == ServerMode::PlainHttp && server.tls.as_ref().is_some_and(|t| t.https_redirect);
    let chain = if matches!(mode, ServerMode::Terminated | ServerMode::TerminatedTcp) {
        Some(super::tls::chain_for(ctx, gateway, server, &field, &hosts)?)
    } else {
        None
    };
    let port_name = if server.port.name.is_empty() {
        server.port.number.to_string()
    } else {
        server.port.name.clone()
    };
    Some(MergedServer {
        gateway,
        gateway_ref: format!("{gw_ns}/{}", gateway.name()),
        name: format!("{gw_ns}/{}/{port_name}", gateway.name()),
        field,
        mode,
        hosts,
        https_redirect,
        chain,
        bind,
    })
}

/// G-2: plain-text HTTP servers merge; TLS servers share a port unless a host repeats; HTTP
/// and TLS on one port conflict, and the later server is dropped.
fn add_to_port<'r>(
    ctx: &mut Ctx<'r>,
    groups: &mut Vec<PortGroup<'r>>,
    mut server: MergedServer<'r>,
    port: u16,
) {
    let Some(group) = groups.iter_mut().find(|g| g.port == port) else {
        name_chain(&mut server, &[]);
        groups.push(PortGroup {
            port,
            tls: server.mode.is_tls(),
            servers: vec![server],
        });
        return;
    };
    let mut r = ctx.reporter(server.gateway);
    let family = group.servers[0].mode.family();
    if family != server.mode.family() {
        let first = &group.servers[0].name;
        r.dropped(
            &server.field,
            format!(
                "port {port} already carries {family} server {first}; this {} server conflicts and is dropped",
                server.mode.family()
            ),
            Some("G-2"),
        );
        return;
    }
    if group.bind() != server.bind.as_deref() {
        r.dropped(
            &format!("{}.bind", server.field),
            format!(
                "port {port} already listens on {} for server {}; servers of one port with different bind addresses are not supported; server dropped",
                group.bind().unwrap_or("the default address"),
                group.servers[0].name
            ),
            Some("G-4"),
        );
        return;
    }
    if group.tls {
        let duplicate = server
            .hosts
            .iter()
            .find(|h| group.servers.iter().any(|s| s.hosts.contains(h)));
        if let Some(h) = duplicate {
            r.dropped(
                &server.field,
                format!("host {} already appears in an earlier TLS server on port {port}; server dropped", h.dns),
                Some("G-2"),
            );
            return;
        }
    }
    name_chain(&mut server, &group.servers);
    group.servers.push(server);
}

/// G-11: a terminated server's filter chain is named after the server, made unique among the
/// chains of the port. The name stays with the server across configuration changes, so a
/// filter config and a listener of different generations (during a rollout) agree on it.
fn name_chain(server: &mut MergedServer<'_>, earlier: &[MergedServer<'_>]) {
    let taken = |name: &str| {
        earlier
            .iter()
            .filter_map(|s| s.chain.as_ref())
            .any(|c| c.name == name)
    };
    let name = server.name.clone();
    if let Some(chain) = &mut server.chain {
        chain.name = (1..)
            .map(|n| {
                if n == 1 {
                    name.clone()
                } else {
                    format!("{name}#{n}")
                }
            })
            .find(|candidate| !taken(candidate))
            .unwrap_or(name);
    }
}
