//! Results of the gateway decision, with the evidence that explains them.

use crate::wire::{Cors, HeaderOperations, Retries};

/// Which parts of the configuration took part in a decision. Each field is filled as far as the
/// decision got: a request refused for its host names no virtual host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence<'g> {
    /// The Gateway server port of the listener that received the request.
    pub listener_port: Option<u16>,
    /// The Gateway server whose hosts admitted the request (`ns/gateway/portName`); on a TLS
    /// port, the server the SNI selected (G-11).
    pub server: Option<&'g str>,
    /// The host pattern that matched (a server host or a vhost domain).
    pub matched_host: Option<&'g str>,
    /// The virtual host chosen.
    pub virtual_host: Option<&'g str>,
    /// The route chosen.
    pub route: Option<&'g str>,
    /// The VirtualService the route came from.
    pub virtual_service: Option<&'g str>,
}

/// Why a request was refused. Each reason maps to Istio's answer for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request arrived on a port that no listener of the config binds.
    UnknownListener,
    /// No `:authority` / Host (HTTP/1.1 without Host is a 400 in Envoy, S-2).
    MissingAuthority,
    /// No Gateway server on this port lists the host (G-10: 404).
    HostNotAllowed,
    /// On a TLS port, no server's SNI list matches the connection's SNI. Envoy closes such a
    /// connection during the handshake (G-11); a filter that sees one anyway answers 404.
    NoTlsServer,
    /// The host is served, but no virtual host was built for it (no bound VirtualService, G-10).
    NoVirtualHost,
    /// The virtual host has no route matching the request (V-9: 404).
    NoRoute,
}

impl Refusal {
    /// The HTTP status Istio would answer with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::MissingAuthority => 400,
            Refusal::UnknownListener
            | Refusal::HostNotAllowed
            | Refusal::NoTlsServer
            | Refusal::NoVirtualHost
            | Refusal::NoRoute => 404,
        }
    }

    /// A stable, bounded identifier (metric label, log field, response-code details).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownListener => "unknown_listener",
            Refusal::MissingAuthority => "missing_authority",
            Refusal::HostNotAllowed => "host_not_allowed",
            Refusal::NoTlsServer => "no_tls_server",
            Refusal::NoVirtualHost => "route_not_found",
            Refusal::NoRoute => "route_not_found",
        }
    }

    /// A human explanation.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::UnknownListener => "no gateway listener is configured for this port",
            Refusal::MissingAuthority => "the request has no host",
            Refusal::HostNotAllowed => "no gateway server on this port lists the host",
            Refusal::NoTlsServer => "no TLS server on this port matches the connection's SNI",
            Refusal::NoVirtualHost => "no virtual service is bound to the gateway for this host",
            Refusal::NoRoute => "no route of the virtual service matches the request",
        }
    }
}

/// The host filter's verdict (Gateway servers only, no routing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostVerdict<'g> {
    /// A server on this port lists the host.
    Admitted(Evidence<'g>),
    /// The matching server has `httpsRedirect` and the request is plain text: 301 to this URL.
    HttpsRedirect {
        /// What matched.
        evidence: Evidence<'g>,
        /// The `Location` header value.
        location: String,
    },
    /// The host is not served on this port.
    Refused {
        /// How far the decision got.
        evidence: Evidence<'g>,
        /// Why.
        refusal: Refusal,
    },
}

/// The full gateway decision (host filtering and routing in one pass).
#[derive(Clone, Debug, PartialEq)]
pub struct Decision<'g> {
    /// What took part.
    pub evidence: Evidence<'g>,
    /// What to do.
    pub outcome: Outcome<'g>,
}

/// What the filter does with the request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<'g> {
    /// Refuse with Istio's status for the reason.
    Refused(Refusal),
    /// Answer with a redirect (`httpsRedirect` or a route's `redirect`).
    Redirect {
        /// 301, 302, 303, 307 or 308.
        status: u16,
        /// The `Location` header value.
        location: String,
        /// Response header operations of the route.
        response_headers: Option<&'g HeaderOperations>,
    },
    /// Answer with a fixed response (`directResponse`).
    DirectResponse {
        /// Status code.
        status: u16,
        /// Body (any bytes: `directResponse.body.bytes` need not be UTF-8).
        body: &'g [u8],
        /// Response header operations of the route.
        response_headers: Option<&'g HeaderOperations>,
    },
    /// A fault abort fired.
    Abort {
        /// HTTP status of the local answer.
        status: u16,
        /// gRPC status, when the abort is a gRPC one.
        grpc_status: Option<u32>,
    },
    /// A CORS preflight answered locally.
    CorsPreflight {
        /// Headers of the 200 answer.
        headers: Vec<(&'static str, String)>,
    },
    /// Forward upstream.
    Forward(ForwardPlan<'g>),
}

/// Names the route and destination a request was forwarded to, in the [`crate::Gateway`] that
/// decided: two indices, `Copy`. A filter keeps it until the response phase and gets the
/// response operations lent again by [`crate::Gateway::response_operations`], instead of
/// copying them into every stream. Meaningful only with the gateway that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForwardHandle {
    /// The route's index among all routes of the gateway.
    pub(crate) route: usize,
    /// The destination's index in the route's destinations, in wire order.
    pub(crate) destination: usize,
}

/// Everything the filter applies to a forwarded request.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardPlan<'g> {
    /// The route and destination chosen, for looking their configuration up again later.
    pub handle: ForwardHandle,
    /// The Envoy cluster chosen among the weighted destinations.
    pub cluster: &'g str,
    /// New `:path` (query string included), when a rewrite applies.
    pub path: Option<String>,
    /// New `:authority`, when a rewrite applies.
    pub authority: Option<&'g str>,
    /// Request header operations, in application order (route first, then destination).
    pub request_headers: Vec<&'g HeaderOperations>,
    /// Response header operations, in application order (route first, then destination).
    pub response_headers: Vec<&'g HeaderOperations>,
    /// Injected delay before forwarding, in milliseconds.
    pub delay_ms: Option<u64>,
    /// Upstream timeout (`x-envoy-upstream-rq-timeout-ms`).
    pub timeout_ms: Option<u64>,
    /// Retry policy (`x-envoy-max-retries`, `x-envoy-retry-on`, per-try timeout).
    pub retries: Option<&'g Retries>,
    /// Clusters that receive a mirrored copy of this request.
    pub mirrors: Vec<&'g str>,
    /// CORS response headers to add, when the request carries a matching `Origin`.
    pub cors_response_headers: Vec<(&'static str, String)>,
    /// The route's CORS policy, for reference.
    pub cors: Option<&'g Cors>,
}
