//! `explain`: which server, virtual host and route would take a request, or why it would be
//! refused. It runs the real decision procedure of the filters (`portcullis_core::Gateway`)
//! over the compiled wire config, so what it says is what the gateway does.
//!
//! [`Explanation`] is data (serialisable, no presentation); [`text::render`] is the CLI's text
//! form of it.

use portcullis_core::host::strip_port;
use portcullis_core::wire::{HeaderOperations, Retries, WireConfig};
use portcullis_core::{ConfigError, Decision, Gateway, Outcome, RequestView, SplitMix64};
use serde::Serialize;

pub mod text;

/// The request to explain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExplainRequest {
    /// Host header (`:authority`), possibly with a port.
    pub host: String,
    /// `:path`, query included.
    pub path: String,
    /// `:method`.
    pub method: String,
    /// `http` or `https`; `None` = https when the listener terminates TLS, else http.
    pub scheme: Option<String>,
    /// TLS SNI of the connection, which selects the server on a TLS port (G-11); `None` = for
    /// an https request the Host without its port (what clients send), else none. `Some("")`
    /// means the client sent no SNI.
    pub sni: Option<String>,
    /// Other headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Gateway port; `None` = the only listener (an error when there are several).
    pub port: Option<u16>,
}

/// Why a request could not be explained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// The compiled config has no HTTP listener at all.
    #[error("the configuration has no HTTP listener")]
    NoListeners,
    /// No listener for the requested gateway port.
    #[error("no HTTP listener on gateway port {port} (listeners: {})", list(.listeners))]
    NoListenerOnPort {
        /// The port asked for.
        port: u16,
        /// Gateway ports that do have a listener.
        listeners: Vec<u16>,
    },
    /// Several listeners, and the request names no port.
    #[error("several HTTP listeners and no gateway port chosen (listeners: {})", list(.listeners))]
    PortNeeded {
        /// Gateway ports of the listeners.
        listeners: Vec<u16>,
    },
    /// The core refused the compiled config (a compiler or core bug: `compile` validates with
    /// the same core, so a user only sees this for a hand-written wire config).
    #[error("the filters' core rejected the compiled config: {0}")]
    Core(#[from] ConfigError),
}

fn list(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    ports.join(", ")
}

/// The decision for one request: which listener, server, virtual host and route took it, and
/// what the gateway does with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `configVersion` of the compiled config.
    pub config_version: String,
    /// Gateway port of the listener.
    pub listener_port: u16,
    /// Port Envoy binds for it.
    pub bind_port: u16,
    /// TLS SNI the request was explained with (`None`: plain text or no SNI).
    pub sni: Option<String>,
    /// Server that admitted the host (on a TLS port: the one the SNI selected, G-11).
    pub server: Option<String>,
    /// Host pattern that matched.
    pub matched_host: Option<String>,
    /// Virtual host chosen.
    pub virtual_host: Option<String>,
    /// Route chosen.
    pub route: Option<String>,
    /// VirtualService of the route.
    pub virtual_service: Option<String>,
    /// What the gateway does: serialised as an object whose `kind` names the variant
    /// (`forward`, `redirect`, `directResponse`, `abort`, `corsPreflight`, `refused`).
    pub outcome: ExplainedOutcome,
}

/// What the gateway does with the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ExplainedOutcome {
    /// Forwarded upstream.
    Forward {
        /// The Envoy cluster chosen among the weighted destinations.
        cluster: String,
        /// New `:path` (query included), when a rewrite applies.
        path: Option<String>,
        /// New `:authority`, when a rewrite applies.
        authority: Option<String>,
        /// Injected fault delay, in milliseconds.
        delay_ms: Option<u64>,
        /// Upstream timeout, in milliseconds.
        timeout_ms: Option<u64>,
        /// Retry policy.
        retries: Option<Retries>,
        /// Clusters that receive a mirrored copy.
        mirrors: Vec<String>,
        /// Request header operations, in application order (route, then destination).
        request_headers: Vec<HeaderOperations>,
        /// Response header operations, in application order (route, then destination).
        response_headers: Vec<HeaderOperations>,
    },
    /// Answered with a redirect (`httpsRedirect` or a route's `redirect`).
    Redirect {
        /// 301, 302, 303, 307 or 308.
        status: u16,
        /// The `Location` header.
        location: String,
        /// Response header operations of the route.
        response_headers: Option<HeaderOperations>,
    },
    /// Answered with a fixed response (`directResponse`).
    DirectResponse {
        /// Status code.
        status: u16,
        /// Body.
        body: String,
        /// Response header operations of the route.
        response_headers: Option<HeaderOperations>,
    },
    /// A fault abort fired.
    Abort {
        /// HTTP status of the local answer.
        status: u16,
        /// gRPC status, when the abort is a gRPC one.
        grpc_status: Option<u32>,
    },
    /// A CORS preflight, answered locally.
    CorsPreflight {
        /// Status of the answer (200).
        status: u16,
        /// Headers of the answer.
        headers: Vec<Header>,
    },
    /// Refused, with Istio's status for the reason.
    Refused {
        /// HTTP status (404, or 400 without a host).
        status: u16,
        /// Stable identifier of the reason (`host_not_allowed`, `route_not_found`, …).
        code: &'static str,
        /// The reason, for people.
        reason: &'static str,
    },
}

/// A response header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Name, lowercase.
    pub name: String,
    /// Value.
    pub value: String,
}

/// Runs the gateway decision for `request` over `wire`. Weighted choices use a fixed seed, so
/// the answer is reproducible.
pub fn explain(
    wire: &WireConfig,
    request: &ExplainRequest,
    seed: u64,
) -> Result<Explanation, ExplainError> {
    let ports = || wire.listeners.iter().map(|l| l.port).collect::<Vec<_>>();
    let listener = match (request.port, wire.listeners.as_slice()) {
        (Some(port), listeners) => listeners.iter().find(|l| l.port == port).ok_or_else(|| {
            ExplainError::NoListenerOnPort {
                port,
                listeners: ports(),
            }
        })?,
        (None, [only]) => only,
        (None, []) => return Err(ExplainError::NoListeners),
        (None, _) => return Err(ExplainError::PortNeeded { listeners: ports() }),
    };
    let gateway = Gateway::compile(wire)?;
    let scheme = request.scheme.clone().unwrap_or_else(|| {
        if listener.servers.iter().any(|s| s.tls) {
            "https"
        } else {
            "http"
        }
        .to_string()
    });
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let sni = match &request.sni {
        Some(sni) => sni.clone(),
        None if scheme.eq_ignore_ascii_case("https") => strip_port(&request.host).to_string(),
        None => String::new(),
    };
    let view = RequestView {
        bind_port: listener.effective_bind_port(),
        authority: &request.host,
        path: &request.path,
        method: &request.method,
        scheme: &scheme,
        tls: scheme.eq_ignore_ascii_case("https"),
        sni: Some(sni.as_str()).filter(|s| !s.is_empty()),
        filter_chain: None,
        headers: &headers,
    };
    let decision = gateway.decide(&view, &mut SplitMix64(seed));
    let e = &decision.evidence;
    Ok(Explanation {
        config_version: wire.config_version.clone(),
        listener_port: e.listener_port.unwrap_or(listener.port),
        bind_port: listener.effective_bind_port(),
        sni: view.sni.map(str::to_string),
        server: e.server.map(str::to_string),
        matched_host: e.matched_host.map(str::to_string),
        virtual_host: e.virtual_host.map(str::to_string),
        route: e.route.map(str::to_string),
        virtual_service: e.virtual_service.map(str::to_string),
        outcome: outcome(&decision),
    })
}

fn outcome(decision: &Decision<'_>) -> ExplainedOutcome {
    match &decision.outcome {
        Outcome::Refused(r) => ExplainedOutcome::Refused {
            status: r.status(),
            code: r.code(),
            reason: r.message(),
        },
        Outcome::Redirect {
            status,
            location,
            response_headers,
        } => ExplainedOutcome::Redirect {
            status: *status,
            location: location.clone(),
            response_headers: response_headers.cloned(),
        },
        Outcome::DirectResponse {
            status,
            body,
            response_headers,
        } => ExplainedOutcome::DirectResponse {
            status: *status,
            body: String::from_utf8_lossy(body).into_owned(),
            response_headers: response_headers.cloned(),
        },
        Outcome::Abort {
            status,
            grpc_status,
        } => ExplainedOutcome::Abort {
            status: *status,
            grpc_status: *grpc_status,
        },
        Outcome::CorsPreflight { headers } => ExplainedOutcome::CorsPreflight {
            status: 200,
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: (*name).to_string(),
                    value: value.clone(),
                })
                .collect(),
        },
        Outcome::Forward(plan) => ExplainedOutcome::Forward {
            cluster: plan.cluster.to_string(),
            path: plan.path.clone(),
            authority: plan.authority.map(str::to_string),
            delay_ms: plan.delay_ms,
            timeout_ms: plan.timeout_ms,
            retries: plan.retries.cloned(),
            mirrors: plan.mirrors.iter().map(|m| (*m).to_string()).collect(),
            request_headers: plan.request_headers.iter().map(|&h| h.clone()).collect(),
            response_headers: plan.response_headers.iter().map(|&h| h.clone()).collect(),
        },
    }
}
