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
    /// The address Envoy binds, from the servers' `bind` (G-4); `None`: the gateway's default
    /// address (every address in a cluster, 127.0.0.1 for `portcullis up`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<String>,
    /// The listener's role, which decides the filters in its chain.
    pub kind: ListenerKind,
    /// TLS filter chains (HTTPS servers that terminate TLS), chosen by SNI (G-11). When empty,
    /// the listener is plain text.
    pub tls_chains: Vec<TlsChainPlan>,
    /// TLS passthrough servers (egress by SNI): audited by the network filter, then proxied
    /// to the cluster that serves the SNI.
    pub passthrough: Vec<PassthroughPlan>,
    /// A TCP listener (G-15): every connection is proxied to these weighted clusters. Set only
    /// on listeners with neither TLS chains nor passthrough.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpPlan>,
}

/// Where a TCP listener's connections go (G-15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpPlan {
    /// Clusters with their weights (all > 0), in the rule's order.
    pub clusters: Vec<WeightedClusterPlan>,
}

/// One weighted destination of a TCP or TLS passthrough route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedClusterPlan {
    /// The cluster.
    pub cluster: String,
    /// Its relative weight.
    pub weight: u32,
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
    /// PEM certificate chain: the Kubernetes TLS Secret's `tls.crt`, or the file
    /// `serverCertificate` names.
    pub certificate_chain: PemSource,
    /// PEM private key (`tls.key`, or the file `privateKey` names); never serialised, hashed
    /// separately.
    #[serde(skip_serializing)]
    pub private_key: PemSource,
    /// Client CA (`ca.crt`, or the file `caCertificates` names) for MUTUAL / OPTIONAL_MUTUAL.
    pub client_ca: Option<PemSource>,
    /// A client certificate is required (MUTUAL).
    pub require_client_certificate: bool,
    /// Protocol versions, cipher suites and further checks of client certificates (G-14).
    pub settings: TlsSettings,
    /// A `TLS` server terminated at the gateway (G-15): after the handshake the chain proxies
    /// the decrypted bytes to these clusters instead of running HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpPlan>,
}

/// A terminated server's TLS parameters (G-14); the default leaves Envoy's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Lowest protocol version accepted.
    pub min_protocol_version: Option<TlsVersion>,
    /// Highest protocol version accepted.
    pub max_protocol_version: Option<TlsVersion>,
    /// Cipher suites (TLS 1.2 and below), in order of preference; empty: Envoy's.
    pub cipher_suites: Vec<String>,
    /// A client certificate must carry one of these names (exact).
    pub client_subject_alt_names: Vec<String>,
    /// A client certificate's SubjectPublicKeyInfo must have one of these base64 SHA-256s.
    pub client_spki_sha256: Vec<String>,
    /// A client certificate must have one of these hex SHA-256s.
    pub client_certificate_sha256: Vec<String>,
}

/// A TLS protocol version (Istio's `TLSProtocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    /// Envoy's choice.
    #[serde(rename = "TLS_AUTO")]
    Auto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    V1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    V1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    V1_3,
}

/// One TLS passthrough route: SNI → cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassthroughPlan {
    /// SNI names routed to `clusters`.
    pub server_names: Vec<String>,
    /// Destination clusters with their weights (all > 0), in the rule's order.
    pub clusters: Vec<WeightedClusterPlan>,
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
    /// Originate TLS to the upstream (DestinationRule `tls.mode: SIMPLE` or `MUTUAL`, S-7).
    pub tls: Option<UpstreamTlsPlan>,
}

/// TLS origination to an upstream (S-7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamTlsPlan {
    /// The SNI sent.
    pub sni: String,
    /// How the server's certificate is verified; `None` only for `insecureSkipVerify: true`.
    pub verify: Option<ServerVerification>,
    /// The client certificate presented (MUTUAL).
    pub client_certificate: Option<ClientCertificate>,
}

/// Verification of an upstream server's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVerification {
    /// The CA bundle the chain must lead to.
    pub trusted_ca: PemSource,
    /// The certificate must carry one of these subject alternative names (never empty: the
    /// SNI when nothing else is given). DNS names match wildcard certificates as RFC 6125 says.
    pub subject_alt_names: Vec<String>,
    /// A certificate revocation list, when given.
    pub crl: Option<PemSource>,
}

/// A client certificate and its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    /// PEM certificate chain.
    pub certificate_chain: PemSource,
    /// PEM private key (never serialised: hashed separately).
    #[serde(skip_serializing)]
    pub private_key: PemSource,
}

/// Where PEM data comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PemSource {
    /// A file on the gateway's disk, read by Envoy (`caCertificates`, `clientCertificate`, ...).
    File(String),
    /// The gateway's system CA bundle (the renderer knows its path).
    SystemBundle,
    /// The data itself (from a Kubernetes Secret).
    Inline(String),
}

impl PemSource {
    /// The bytes that identify this source, for the content hash.
    pub fn identity(&self) -> &str {
        match self {
            PemSource::File(path) => path,
            PemSource::SystemBundle => "",
            PemSource::Inline(pem) => pem,
        }
    }
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
