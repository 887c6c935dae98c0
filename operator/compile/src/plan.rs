//! What Envoy must run for one compiled gateway. `compile` produces an [`EnvoyPlan`];
//! `envoy` renders it into Envoy configuration. Neither side knows the other's internals.

use serde::Serialize;

/// Envoy-side resources of one gateway workload, in a deterministic order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyPlan {
    /// One listener per Gateway server port (G-2), sorted by bind port.
    pub listeners: Vec<ListenerPlan>,
    /// Every upstream cluster a route, mirror or audit collector names, sorted by name.
    pub clusters: Vec<ClusterPlan>,
}

/// One Envoy listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerPlan {
    /// Stable name, e.g. `http.80` or `https.443` (Istio's naming).
    pub name: String,
    /// The Gateway server port as written.
    pub gateway_port: u16,
    /// The port Envoy binds (gateway port plus any local offset).
    pub bind_port: u16,
    /// The listener's role, which decides the filters in its chain.
    pub kind: ListenerKind,
    /// TLS filter chains (HTTPS servers that terminate TLS), chosen by SNI (G-11). When empty,
    /// the listener is plain text.
    pub tls_chains: Vec<TlsChainPlan>,
    /// TLS passthrough servers (egress by SNI): audited by the network filter, then proxied
    /// to the cluster that serves the SNI.
    pub passthrough: Vec<PassthroughPlan>,
}

/// Which filters a listener runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ListenerKind {
    /// Ingress: the router filter (host filtering and routing in one pass).
    Ingress,
    /// Egress: the egress-audit filter, then the router filter.
    Egress,
}

/// One terminated-TLS filter chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsChainPlan {
    /// The filter chain's name, unique in its listener: the server's name, suffixed `#2`,
    /// `#3`, … when servers of the port share one. The wire config's `Server.filterChain` names
    /// the same chain, and the filter selects the server by it (G-11).
    pub name: String,
    /// SNI names (the server's hosts without namespace); empty = any SNI (`*`).
    pub server_names: Vec<String>,
    /// PEM certificate chain (from the Kubernetes TLS Secret `tls.crt`).
    pub certificate_chain_pem: String,
    /// PEM private key (`tls.key`).
    #[serde(skip_serializing)]
    pub private_key_pem: String,
    /// Client CA (`ca.crt`) for MUTUAL / OPTIONAL_MUTUAL.
    pub client_ca_pem: Option<String>,
    /// A client certificate is required (MUTUAL).
    pub require_client_certificate: bool,
}

/// One TLS passthrough route: SNI → cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassthroughPlan {
    /// SNI names routed to `cluster`.
    pub server_names: Vec<String>,
    /// Destination cluster.
    pub cluster: String,
}

/// One upstream cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPlan {
    /// Istio-style name `outbound|<port>|<subset>|<fqdn>` (or a Portcullis-internal name).
    pub name: String,
    /// How endpoints are found.
    pub discovery: Discovery,
    /// Speak HTTP/2 to the upstream (GRPC / HTTP2 ports).
    pub http2: bool,
    /// Originate TLS to the upstream with this SNI (DestinationRule `tls.mode: SIMPLE`).
    pub tls_sni: Option<String>,
}

/// Endpoint discovery of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Discovery {
    /// Fixed addresses (ServiceEntry `resolution: STATIC`, filtered by subset labels).
    Static(Vec<Endpoint>),
    /// Resolve a hostname by DNS (ServiceEntry `DNS`, Kubernetes service names).
    Dns(Vec<Endpoint>),
}

/// One endpoint address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// IP address or hostname.
    pub address: String,
    /// Port.
    pub port: u16,
}
