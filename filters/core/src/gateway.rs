//! The compiled gateway: wire config turned into indexed matchers, and the per-request decision
//! (Istio's procedure, the decision walk-through of docs/semantics.md).
//!
//! Per request: listener by bind port → on a TLS port, server by SNI (G-11; none → the handshake
//! fails, here 404) → server by host (G-5, G-9; none → 404) → `httpsRedirect` (G-7) → virtual
//! host by host in the route table of the port (plain text, G-8) or of the SNI-selected server
//! (G-11) (G-9, no fall-through; none → 404, G-10) → `requireTls` (G-7) → first matching route
//! (V-5; none → 404, V-9) → CORS, fault, action (V-18 … V-24).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use crate::host::{HostIndex, HostPattern, normalize_authority};
use crate::route::{CompiledRoute, LINEAR_UP_TO, PathIndex, RouteInput, https_location};
use crate::wire::{HeaderOperations, Listener, VirtualHost, WireConfig};
use crate::{
    ConfigError, Decision, Entropy, Evidence, ForwardHandle, HostVerdict, Outcome, Refusal,
    RequestView, split_query,
};

/// A wire config compiled once into indexed matchers. Immutable and shared by all requests.
#[derive(Debug)]
pub struct Gateway {
    config_version: String,
    listeners: Vec<CompiledListener>,
    /// Every route of every table, vhost after vhost; a vhost holds its range. A route's index
    /// here is what a [`ForwardHandle`] names.
    routes: Vec<CompiledRoute>,
    /// Bind port → index in `listeners`.
    by_bind_port: HashMap<u16, usize>,
    referenced_headers: Vec<String>,
    /// Some listener has TLS servers that do not name their filter chains, so requests must
    /// carry their SNI (G-11).
    needs_sni: bool,
    /// Some listener has TLS servers that name their filter chains, so requests must carry the
    /// name of the chain that took them (G-11).
    needs_filter_chain: bool,
    /// Some decision depends on whether the connection is TLS (G-7, G-11).
    needs_tls: bool,
    /// Some decision reads `:path`.
    needs_path: bool,
    /// Some decision reads `:method`.
    needs_method: bool,
    /// Some decision reads `:scheme`.
    needs_scheme: bool,
    /// The bind port of the only listener, when there is one listener.
    sole_bind_port: Option<u16>,
}

/// One listener: its plain-text servers and their shared route table (G-8), and its terminated
/// HTTPS servers, each with its own table (G-11).
#[derive(Debug)]
struct CompiledListener {
    port: u16,
    servers: HostIndex<ServerRef>,
    table: RouteTable,
    tls: Option<TlsServers>,
}

/// Whether route tables are compiled (the router) or skipped (host filtering only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tables {
    Compiled,
    Skipped,
}

impl Tables {
    fn compile(
        self,
        virtual_hosts: &[VirtualHost],
        at: &str,
        routes: &mut Vec<CompiledRoute>,
    ) -> Result<RouteTable, ConfigError> {
        match self {
            Tables::Compiled => compile_table(virtual_hosts, at, routes),
            Tables::Skipped => Ok(RouteTable::default()),
        }
    }
}

/// A route table: virtual hosts behind a host index (G-9).
#[derive(Debug, Default)]
struct RouteTable {
    vhosts: Vec<CompiledVhost>,
    index: HostIndex<usize>,
}

impl CompiledListener {
    /// Whether a decision on this listener reads [`RequestView::tls`].
    fn depends_on_tls(&self, wire: &Listener) -> bool {
        let redirects = wire.servers.iter().any(|s| s.https_redirect)
            || wire.virtual_hosts.iter().any(|v| v.require_tls)
            || wire
                .servers
                .iter()
                .flat_map(|s| &s.virtual_hosts)
                .any(|v| v.require_tls);
        redirects || self.tls.as_ref().is_some_and(|t| !t.exclusive)
    }
}

impl RouteTable {
    /// The vhost for a normalised host and the domain that selected it (G-9).
    fn lookup(&self, host: &str) -> Option<(&str, &CompiledVhost)> {
        let found = self.index.lookup(host)?;
        Some((found.pattern, self.vhosts.get(*found.value)?))
    }
}

/// The terminated HTTPS servers of a listener (G-11), selected by the filter chain Envoy chose
/// when the servers name their chains, otherwise by SNI with Envoy's rule
/// ([`HostIndex::lookup_server_name`]).
#[derive(Debug)]
struct TlsServers {
    /// Filter chain name → index in `servers`; empty when the servers name no chain.
    by_chain: HashMap<String, usize>,
    /// SNI pattern → index in `servers`; the first server listing a pattern keeps it.
    by_sni: HostIndex<usize>,
    servers: Vec<TlsServer>,
    /// No plain-text server shares the port, so every connection on it is TLS (Envoy only
    /// accepts TLS there), whatever `:scheme` says.
    exclusive: bool,
}

#[derive(Debug)]
struct TlsServer {
    name: String,
    hosts: HostIndex<()>,
    table: RouteTable,
}

/// What a server host pattern leads to. Several servers may list the same host on one port
/// (merged plain-text servers, G-2): the first gives the evidence, and any `httpsRedirect`
/// among them redirects, as the merged vhost does (G-7).
#[derive(Debug)]
struct ServerRef {
    name: String,
    https_redirect: bool,
}

/// A request past the host stage.
struct Admitted<'g, 'r> {
    listener_port: u16,
    /// The route table the request is routed in (the port's, or the SNI-selected server's).
    table: &'g RouteTable,
    host: Cow<'r, str>,
    evidence: Evidence<'g>,
}

/// Why the host stage did not admit a request: the only two ways it stops one (admission is
/// the `Ok` of [`Gateway::admit`]).
enum NotAdmitted<'g> {
    /// `httpsRedirect` on a plain-text request (G-7).
    HttpsRedirect {
        evidence: Evidence<'g>,
        location: String,
    },
    /// Not served on this port (or no host at all).
    Refused {
        evidence: Evidence<'g>,
        refusal: Refusal,
    },
}

impl<'g> NotAdmitted<'g> {
    /// The host filter's verdict.
    fn into_verdict(self) -> HostVerdict<'g> {
        match self {
            NotAdmitted::HttpsRedirect { evidence, location } => {
                HostVerdict::HttpsRedirect { evidence, location }
            }
            NotAdmitted::Refused { evidence, refusal } => {
                HostVerdict::Refused { evidence, refusal }
            }
        }
    }

    /// The router's decision.
    fn into_decision(self) -> Decision<'g> {
        match self {
            NotAdmitted::HttpsRedirect { evidence, location } => Decision {
                evidence,
                outcome: https_redirect(location),
            },
            NotAdmitted::Refused { evidence, refusal } => Decision {
                evidence,
                outcome: Outcome::Refused(refusal),
            },
        }
    }
}

#[derive(Debug)]
struct CompiledVhost {
    name: String,
    require_tls: bool,
    /// Its routes, in order, in [`Gateway::routes`].
    routes: Range<usize>,
    /// Their path index, above [`LINEAR_UP_TO`] routes.
    index: Option<PathIndex>,
}

impl CompiledVhost {
    /// The first of `routes` (this vhost's) whose conditions hold, with its offset.
    fn first_match<'g>(
        &self,
        routes: &'g [CompiledRoute],
        input: &RouteInput<'_>,
    ) -> Option<(usize, &'g CompiledRoute)> {
        let Some(index) = &self.index else {
            return routes.iter().enumerate().find(|(_, r)| r.matches(input));
        };
        let mut candidates = Vec::new();
        index.candidates(input.path, &mut candidates);
        candidates
            .into_iter()
            .filter_map(|offset| {
                let offset = usize::try_from(offset).ok()?;
                Some((offset, routes.get(offset)?))
            })
            .find(|(_, r)| r.matches(input))
    }
}

impl Gateway {
    /// Validates and compiles a wire config. All regexes are compiled here, never per request.
    pub fn compile(config: &WireConfig) -> Result<Self, ConfigError> {
        Self::compile_with(config, Tables::Compiled)
    }

    /// Host filtering only ([`Gateway::admit_host`]): listeners and servers are compiled, the
    /// route tables are not, so a host filter in front of Envoy's own routes holds only what it
    /// consults (their routes were most of the memory). [`Gateway::decide`] on the result finds
    /// no virtual host.
    pub fn compile_hosts(config: &WireConfig) -> Result<Self, ConfigError> {
        Self::compile_with(config, Tables::Skipped)
    }

    fn compile_with(config: &WireConfig, tables: Tables) -> Result<Self, ConfigError> {
        let mut by_bind_port = HashMap::new();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        let mut routes = Vec::new();
        let mut needs_sni = false;
        let mut needs_filter_chain = false;
        let mut needs_tls = false;
        for (li, l) in config.listeners.iter().enumerate() {
            let at = format!("listeners[{li}]");
            if let Some(prev) = by_bind_port.insert(l.effective_bind_port(), li) {
                return Err(ConfigError::Invalid {
                    at: format!("{at}.bindPort"),
                    reason: format!(
                        "port {} is already bound by listeners[{prev}]",
                        l.effective_bind_port()
                    ),
                });
            }
            let listener = compile_listener(l, &at, &mut routes, tables)?;
            if let Some(tls) = &listener.tls {
                needs_sni |= tls.by_chain.is_empty();
                needs_filter_chain |= !tls.by_chain.is_empty();
            }
            needs_tls |= listener.depends_on_tls(l);
            listeners.push(listener);
        }
        let mut headers = BTreeSet::new();
        for route in &routes {
            headers.extend(route.matcher().header_names().map(str::to_string));
            if route.has_cors() {
                headers.insert("origin".to_string());
                headers.insert("access-control-request-method".to_string());
            }
        }
        Ok(Gateway {
            config_version: config.config_version.clone(),
            listeners,
            // An httpsRedirect or requireTls answer keeps the path in its `Location`, and
            // those are among what makes a config depend on TLS.
            needs_path: needs_tls || routes.iter().any(CompiledRoute::reads_path),
            needs_method: routes.iter().any(CompiledRoute::reads_method),
            needs_scheme: routes.iter().any(CompiledRoute::reads_scheme),
            sole_bind_port: config.sole_bind_port(),
            routes,
            by_bind_port,
            referenced_headers: headers.into_iter().collect(),
            needs_sni,
            needs_filter_chain,
            needs_tls,
        })
    }

    /// True when some decision depends on whether the connection is TLS (`httpsRedirect`,
    /// `requireTls`, a port mixing plain-text and TLS servers): the filters must then fill
    /// [`RequestView::tls`] from `x-forwarded-proto` (G-7). Other configs skip that read.
    pub fn needs_tls(&self) -> bool {
        self.needs_tls
    }

    /// True when some listener has terminated HTTPS servers that do not name their filter
    /// chains: the filters must then read the connection's SNI into [`RequestView::sni`]
    /// (G-11). Other configs skip that host call.
    pub fn needs_sni(&self) -> bool {
        self.needs_sni
    }

    /// True when some listener has terminated HTTPS servers that name their filter chains: the
    /// filters must then read `xds.filter_chain_name` into [`RequestView::filter_chain`]
    /// (G-11).
    pub fn needs_filter_chain(&self) -> bool {
        self.needs_filter_chain
    }

    /// True when some decision reads [`RequestView::path`] (a path or query condition, a
    /// rewrite, a redirect, an https redirect). Other configs (routes by host alone) may leave
    /// it empty and skip the header read.
    pub fn needs_path(&self) -> bool {
        self.needs_path
    }

    /// True when some decision reads [`RequestView::method`] (a method condition, a CORS
    /// policy). Other configs may leave it empty and skip the header read.
    pub fn needs_method(&self) -> bool {
        self.needs_method
    }

    /// True when some decision reads [`RequestView::scheme`] (a scheme condition, a redirect).
    /// Other configs may leave it empty and skip the header read.
    pub fn needs_scheme(&self) -> bool {
        self.needs_scheme
    }

    /// The bind port every request of this config arrives on, when it has a single listener:
    /// the filters then need not ask the host for [`RequestView::bind_port`] (the filter runs
    /// only on the listeners rendered from this config). `None` with several listeners.
    pub fn sole_bind_port(&self) -> Option<u16> {
        self.sole_bind_port
    }

    /// The config's identity (`configVersion`).
    pub fn config_version(&self) -> &str {
        &self.config_version
    }

    /// Header names (lowercase) that some route matcher reads, beyond the pseudo-headers.
    pub fn referenced_headers(&self) -> &[String] {
        &self.referenced_headers
    }

    /// Host filtering only (Gateway servers, G-5 … G-10, S-2).
    pub fn admit_host<'g>(&'g self, request: &RequestView<'_>) -> HostVerdict<'g> {
        match self.admit(request) {
            Ok(admitted) => HostVerdict::Admitted(admitted.evidence),
            Err(stopped) => stopped.into_verdict(),
        }
    }

    /// Host filtering and routing in one pass (the decision procedure of Istio's gateway).
    ///
    /// `evidence.matched_host` is the server host pattern until a virtual host is chosen, then
    /// the vhost domain that selected it.
    pub fn decide<'g>(
        &'g self,
        request: &RequestView<'_>,
        entropy: &mut dyn Entropy,
    ) -> Decision<'g> {
        let Admitted {
            listener_port,
            table,
            host,
            mut evidence,
        } = match self.admit(request) {
            Ok(admitted) => admitted,
            Err(stopped) => return stopped.into_decision(),
        };
        let refused = |evidence, refusal| Decision {
            evidence,
            outcome: Outcome::Refused(refusal),
        };
        // One vhost is chosen; a vhost without a matching route does not fall through (G-9).
        let Some((domain, vhost)) = table.lookup(&host) else {
            return refused(evidence, Refusal::NoVirtualHost);
        };
        evidence.matched_host = Some(domain);
        evidence.virtual_host = Some(&vhost.name);
        if vhost.require_tls && is_plain(request) {
            return Decision {
                evidence,
                outcome: https_redirect(https_location(request)),
            };
        }
        let (path, query) = split_query(request.path);
        let input = RouteInput {
            req: *request,
            path,
            query,
            listener_port,
        };
        let routes = self.routes.get(vhost.routes.clone()).unwrap_or_default();
        let Some((offset, route)) = vhost.first_match(routes, &input) else {
            return refused(evidence, Refusal::NoRoute);
        };
        evidence.route = Some(route.name());
        evidence.virtual_service = Some(route.virtual_service()).filter(|s| !s.is_empty());
        Decision {
            evidence,
            outcome: route.outcome(vhost.routes.start + offset, &input, entropy),
        }
    }

    /// The response header operations of a request forwarded as `handle` says (its plan's
    /// [`crate::ForwardPlan::handle`]), in application order: the route's, then the
    /// destination's, empty ones skipped, as in the plan's `response_headers`. Lent by the
    /// gateway, so a filter keeps only the handle until the response phase. The handle must
    /// come from this gateway's decision: another gateway's names other routes, or none (then
    /// nothing is lent).
    pub fn response_operations(
        &self,
        handle: ForwardHandle,
    ) -> impl Iterator<Item = &HeaderOperations> {
        self.routes
            .get(handle.route)
            .into_iter()
            .flat_map(move |route| route.response_operations(handle.destination))
    }

    /// The host stage shared by [`Gateway::admit_host`] and [`Gateway::decide`]: listener,
    /// server (by SNI on a TLS port, G-11), authority, server hosts, `httpsRedirect`. The host
    /// is normalised once here.
    fn admit<'g, 'r>(
        &'g self,
        request: &RequestView<'r>,
    ) -> Result<Admitted<'g, 'r>, NotAdmitted<'g>> {
        let refused = |evidence, refusal| Err(NotAdmitted::Refused { evidence, refusal });
        let mut evidence = Evidence::default();
        let Some(listener) = self.listener(request.bind_port) else {
            return refused(evidence, Refusal::UnknownListener);
        };
        evidence.listener_port = Some(listener.port);
        if let Some(tls) = &listener.tls
            && (tls.exclusive || !is_plain(request))
        {
            // G-11: the handshake chose the server's filter chain; the request is routed only
            // within that server's route table, by Host.
            let Some(server) = tls.select(request) else {
                return refused(evidence, Refusal::NoTlsServer);
            };
            evidence.server = Some(&server.name);
            if request.authority.is_empty() {
                return refused(evidence, Refusal::MissingAuthority);
            }
            let host = normalize_authority(request.authority);
            let Some(found) = server.hosts.lookup(&host) else {
                return refused(evidence, Refusal::HostNotAllowed);
            };
            evidence.matched_host = Some(found.pattern);
            return Ok(Admitted {
                listener_port: listener.port,
                table: &server.table,
                host,
                evidence,
            });
        }
        if request.authority.is_empty() {
            return refused(evidence, Refusal::MissingAuthority);
        }
        let host = normalize_authority(request.authority);
        let Some(server) = listener.servers.lookup(&host) else {
            return refused(evidence, Refusal::HostNotAllowed);
        };
        evidence.server = Some(&server.value.name);
        evidence.matched_host = Some(server.pattern);
        if server.value.https_redirect && is_plain(request) {
            let location = https_location(request);
            return Err(NotAdmitted::HttpsRedirect { evidence, location });
        }
        Ok(Admitted {
            listener_port: listener.port,
            table: &listener.table,
            host,
            evidence,
        })
    }

    fn listener(&self, bind_port: u16) -> Option<&CompiledListener> {
        self.by_bind_port
            .get(&bind_port)
            .and_then(|&i| self.listeners.get(i))
    }
}

/// Plain text is a connection Envoy did not receive over TLS (G-7). Envoy's `require_tls`
/// looks at the `x-forwarded-proto` it set from the connection, never at `:scheme`, which a
/// cleartext HTTP/2 client chooses.
fn is_plain(request: &RequestView<'_>) -> bool {
    !request.tls
}

impl TlsServers {
    /// The server whose filter chain took the connection: named by Envoy when the servers name
    /// their chains (an unknown or missing name selects none: fail closed), otherwise found
    /// from the SNI as Envoy finds the chain (lowercased, nothing stripped).
    fn select(&self, request: &RequestView<'_>) -> Option<&TlsServer> {
        let index = match request.filter_chain {
            Some(chain) if !self.by_chain.is_empty() => *self.by_chain.get(chain)?,
            _ => {
                let sni = request.sni.unwrap_or_default();
                let sni = if sni.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(sni.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(sni)
                };
                *self.by_sni.lookup_server_name(&sni)?.value
            }
        };
        self.servers.get(index)
    }
}

fn https_redirect<'g>(location: String) -> Outcome<'g> {
    Outcome::Redirect {
        status: 301,
        location,
        response_headers: None,
    }
}

fn parse_host(pattern: &str, at: String) -> Result<HostPattern, ConfigError> {
    pattern
        .parse()
        .map_err(|e: crate::host::InvalidHost| ConfigError::InvalidHost {
            at,
            pattern: pattern.to_string(),
            reason: e.0.to_string(),
        })
}

fn compile_listener(
    l: &Listener,
    at: &str,
    routes: &mut Vec<CompiledRoute>,
    tables: Tables,
) -> Result<CompiledListener, ConfigError> {
    let mut servers = HostIndex::new();
    let mut tls_servers = Vec::new();
    let mut by_sni = HostIndex::new();
    let mut by_chain = HashMap::new();
    let mut unnamed_chains = 0;
    for (si, s) in l.servers.iter().enumerate() {
        let sat = format!("{at}.servers[{si}]");
        match (&s.filter_chain, s.tls) {
            (Some(_), false) => {
                return Err(ConfigError::Invalid {
                    at: format!("{sat}.filterChain"),
                    reason: "only a TLS server has a filter chain of its own".into(),
                });
            }
            (Some(chain), true) => {
                if by_chain.insert(chain.clone(), tls_servers.len()).is_some() {
                    return Err(ConfigError::Invalid {
                        at: format!("{sat}.filterChain"),
                        reason: format!("filter chain {chain} already names another server"),
                    });
                }
            }
            (None, true) => unnamed_chains += 1,
            (None, false) => {}
        }
        if !s.tls && !s.virtual_hosts.is_empty() {
            return Err(ConfigError::Invalid {
                at: format!("{sat}.virtualHosts"),
                reason: "only a TLS server has its own route table; plain-text servers share \
                         the listener's virtualHosts"
                    .into(),
            });
        }
        let mut hosts = HostIndex::new();
        for (hi, h) in s.hosts.iter().enumerate() {
            let pattern = parse_host(h, format!("{sat}.hosts[{hi}]"))?;
            if s.tls {
                // G-11: the server names of the filter chain; a repeated name keeps the first
                // server (the compiler drops such servers, G-2).
                let _ = by_sni.insert(&pattern, tls_servers.len());
                let _ = hosts.insert(&pattern, ());
                continue;
            }
            let server = ServerRef {
                name: s.name.clone(),
                https_redirect: s.https_redirect,
            };
            if servers.insert(&pattern, server).is_err()
                && s.https_redirect
                && let Some(first) = servers.get_mut(&pattern)
            {
                first.https_redirect = true;
            }
        }
        if s.tls {
            tls_servers.push(TlsServer {
                name: s.name.clone(),
                hosts,
                table: tables.compile(&s.virtual_hosts, &format!("{sat}.virtualHosts"), routes)?,
            });
        }
    }
    let exclusive = !l.servers.is_empty() && l.servers.iter().all(|s| s.tls);
    if exclusive && !l.virtual_hosts.is_empty() {
        // A config written before G-11 tables existed: routing it would 404 every request, so
        // refuse it loudly instead.
        return Err(ConfigError::Invalid {
            at: format!("{at}.virtualHosts"),
            reason: "every server of this listener terminates TLS, so requests are routed in \
                     each server's own virtualHosts (G-11); this shared table would never be used"
                .into(),
        });
    }
    if unnamed_chains > 0 && !by_chain.is_empty() {
        return Err(ConfigError::Invalid {
            at: format!("{at}.servers"),
            reason: "either every TLS server of a listener names its filterChain or none does"
                .into(),
        });
    }
    let tls = (!tls_servers.is_empty()).then_some(TlsServers {
        by_chain,
        by_sni,
        exclusive,
        servers: tls_servers,
    });
    Ok(CompiledListener {
        port: l.port,
        servers,
        table: tables.compile(&l.virtual_hosts, &format!("{at}.virtualHosts"), routes)?,
        tls,
    })
}

/// Compiles one route table; `at` is the path of its `virtualHosts` list. The routes go to the
/// end of `routes`, each vhost keeping its range.
fn compile_table(
    virtual_hosts: &[VirtualHost],
    at: &str,
    routes: &mut Vec<CompiledRoute>,
) -> Result<RouteTable, ConfigError> {
    let mut vhosts = Vec::with_capacity(virtual_hosts.len());
    let mut index = HostIndex::new();
    for (vi, v) in virtual_hosts.iter().enumerate() {
        let vat = format!("{at}[{vi}]");
        for (di, d) in v.domains.iter().enumerate() {
            let dat = format!("{vat}.domains[{di}]");
            let pattern = parse_host(d, dat.clone())?;
            // Envoy refuses a route table that lists a domain twice.
            if index.insert(&pattern, vi).is_err() {
                return Err(ConfigError::InvalidHost {
                    at: dat,
                    pattern: d.clone(),
                    reason: "domain already used by another virtual host".into(),
                });
            }
        }
        let start = routes.len();
        for (ri, r) in v.routes.iter().enumerate() {
            routes.push(CompiledRoute::compile(r, &format!("{vat}.routes[{ri}]"))?);
        }
        let own = routes.get(start..).unwrap_or_default();
        vhosts.push(CompiledVhost {
            name: v.name.clone(),
            require_tls: v.require_tls,
            index: (own.len() > LINEAR_UP_TO).then(|| PathIndex::new(own)),
            routes: start..routes.len(),
        });
    }
    Ok(RouteTable { vhosts, index })
}
