//! The compiled gateway: wire config turned into indexed matchers, and the per-request decision
//! (Istio's procedure, section E of the semantics notes).
//!
//! Per request: listener by bind port → server by host (G-5, G-9; none → 404) → `httpsRedirect`
//! (G-7) → virtual host by host (G-9, no fall-through; none → 404, G-10) → `requireTls` (G-7) →
//! first matching route (V-5; none → 404, V-9) → CORS, fault, action (V-18 … V-24).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use crate::config::{Listener, WireConfig};
use crate::host::{HostIndex, HostPattern, normalize_authority};
use crate::route::{CompiledRoute, RouteInput, https_location};
use crate::{
    ConfigError, Decision, Entropy, Evidence, HostVerdict, Outcome, Refusal, RequestView,
    split_query,
};

/// A wire config compiled once into indexed matchers. Immutable and shared by all requests.
#[derive(Debug)]
pub struct Gateway {
    config_version: String,
    listeners: Vec<CompiledListener>,
    /// Bind port → index in `listeners`.
    by_bind_port: HashMap<u16, usize>,
    referenced_headers: Vec<String>,
}

/// One listener: its servers and virtual hosts, each behind a host index.
#[derive(Debug)]
struct CompiledListener {
    port: u16,
    servers: HostIndex<ServerRef>,
    vhosts: Vec<CompiledVhost>,
    vhost_index: HostIndex<usize>,
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
    listener: &'g CompiledListener,
    host: Cow<'r, str>,
    evidence: Evidence<'g>,
}

#[derive(Debug)]
struct CompiledVhost {
    name: String,
    require_tls: bool,
    routes: Vec<CompiledRoute>,
}

impl Gateway {
    /// Validates and compiles a wire config. All regexes are compiled here, never per request.
    pub fn compile(config: &WireConfig) -> Result<Self, ConfigError> {
        let mut by_bind_port = HashMap::new();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        let mut headers = BTreeSet::new();
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
            let listener = compile_listener(l, &at)?;
            for route in listener.vhosts.iter().flat_map(|v| &v.routes) {
                headers.extend(route.matcher().header_names().map(str::to_string));
                if route.has_cors() {
                    headers.insert("origin".to_string());
                    headers.insert("access-control-request-method".to_string());
                }
            }
            listeners.push(listener);
        }
        Ok(Gateway {
            config_version: config.config_version.clone(),
            listeners,
            by_bind_port,
            referenced_headers: headers.into_iter().collect(),
        })
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
            Err(verdict) => verdict,
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
            listener,
            host,
            mut evidence,
        } = match self.admit(request) {
            Ok(admitted) => admitted,
            Err(HostVerdict::HttpsRedirect { evidence, location }) => {
                return Decision {
                    evidence,
                    outcome: https_redirect(location),
                };
            }
            Err(HostVerdict::Refused { evidence, refusal }) => {
                return Decision {
                    evidence,
                    outcome: Outcome::Refused(refusal),
                };
            }
            // `admit` reports admission through `Ok`; treat a stray verdict as a refusal.
            Err(HostVerdict::Admitted(evidence)) => {
                return Decision {
                    evidence,
                    outcome: Outcome::Refused(Refusal::NoVirtualHost),
                };
            }
        };
        let refused = |evidence, refusal| Decision {
            evidence,
            outcome: Outcome::Refused(refusal),
        };
        // One vhost is chosen; a vhost without a matching route does not fall through (G-9).
        let Some(found) = listener.vhost_index.lookup(&host) else {
            return refused(evidence, Refusal::NoVirtualHost);
        };
        let Some(vhost) = listener.vhosts.get(*found.value) else {
            return refused(evidence, Refusal::NoVirtualHost);
        };
        evidence.matched_host = Some(found.pattern);
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
            listener_port: listener.port,
        };
        let Some(route) = vhost.routes.iter().find(|r| r.matches(&input)) else {
            return refused(evidence, Refusal::NoRoute);
        };
        evidence.route = Some(&route.wire().name);
        evidence.virtual_service =
            Some(route.wire().virtual_service.as_str()).filter(|s| !s.is_empty());
        Decision {
            evidence,
            outcome: route.outcome(&input, entropy),
        }
    }

    /// The host stage shared by [`Gateway::admit_host`] and [`Gateway::decide`]: listener,
    /// authority, server, `httpsRedirect`. The host is normalised once here.
    fn admit<'g, 'r>(
        &'g self,
        request: &RequestView<'r>,
    ) -> Result<Admitted<'g, 'r>, HostVerdict<'g>> {
        let refused = |evidence, refusal| Err(HostVerdict::Refused { evidence, refusal });
        let mut evidence = Evidence::default();
        let Some(listener) = self.listener(request.bind_port) else {
            return refused(evidence, Refusal::UnknownListener);
        };
        evidence.listener_port = Some(listener.port);
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
            return Err(HostVerdict::HttpsRedirect { evidence, location });
        }
        Ok(Admitted {
            listener,
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

/// Plain text is anything but `https` (Envoy's `require_tls` looks at the scheme it set from
/// the connection, G-7).
fn is_plain(request: &RequestView<'_>) -> bool {
    !request.scheme.eq_ignore_ascii_case("https")
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

fn compile_listener(l: &Listener, at: &str) -> Result<CompiledListener, ConfigError> {
    let mut servers = HostIndex::new();
    for (si, s) in l.servers.iter().enumerate() {
        for (hi, h) in s.hosts.iter().enumerate() {
            let pattern = parse_host(h, format!("{at}.servers[{si}].hosts[{hi}]"))?;
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
    }
    let mut vhosts = Vec::with_capacity(l.virtual_hosts.len());
    let mut vhost_index = HostIndex::new();
    for (vi, v) in l.virtual_hosts.iter().enumerate() {
        let vat = format!("{at}.virtualHosts[{vi}]");
        for (di, d) in v.domains.iter().enumerate() {
            let dat = format!("{vat}.domains[{di}]");
            let pattern = parse_host(d, dat.clone())?;
            // Envoy refuses a route table that lists a domain twice.
            if vhost_index.insert(&pattern, vi).is_err() {
                return Err(ConfigError::InvalidHost {
                    at: dat,
                    pattern: d.clone(),
                    reason: "domain already used by another virtual host".into(),
                });
            }
        }
        let routes = v
            .routes
            .iter()
            .enumerate()
            .map(|(ri, r)| CompiledRoute::compile(r, &format!("{vat}.routes[{ri}]")))
            .collect::<Result<_, _>>()?;
        vhosts.push(CompiledVhost {
            name: v.name.clone(),
            require_tls: v.require_tls,
            routes,
        });
    }
    Ok(CompiledListener {
        port: l.port,
        servers,
        vhosts,
        vhost_index,
    })
}
