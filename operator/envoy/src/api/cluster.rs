//! `envoy.config.cluster.v3` and endpoints.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Address, Duration, Empty, TransportSocket, TypedConfig};

/// `cluster.v3.Cluster`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cluster {
    /// Unique name.
    pub name: String,
    /// How endpoints are found.
    #[serde(rename = "type")]
    pub discovery_type: DiscoveryType,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Load balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_policy: Option<LbPolicy>,
    /// The endpoints.
    pub load_assignment: ClusterLoadAssignment,
    /// Address family for DNS discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_lookup_family: Option<DnsLookupFamily>,
    /// Protocol options by extension name (HTTP/2 upstreams).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub typed_extension_protocol_options: BTreeMap<String, TypedConfig>,
    /// TLS origination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_socket: Option<TransportSocket>,
}

/// `Cluster.DiscoveryType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DiscoveryType {
    /// Fixed addresses.
    #[serde(rename = "STATIC")]
    Static,
    /// Every address a hostname resolves to is an endpoint.
    #[serde(rename = "STRICT_DNS")]
    StrictDns,
}

/// `Cluster.LbPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LbPolicy {
    /// Round robin.
    #[serde(rename = "ROUND_ROBIN")]
    RoundRobin,
}

/// `Cluster.DnsLookupFamily`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DnsLookupFamily {
    /// A records only.
    #[serde(rename = "V4_ONLY")]
    V4Only,
}

/// `endpoint.v3.ClusterLoadAssignment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterLoadAssignment {
    /// The cluster's name.
    pub cluster_name: String,
    /// Endpoints by locality (Portcullis uses one locality, or none).
    pub endpoints: Vec<LocalityLbEndpoints>,
}

/// `endpoint.v3.LocalityLbEndpoints`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalityLbEndpoints {
    /// The endpoints.
    pub lb_endpoints: Vec<LbEndpoint>,
}

/// `endpoint.v3.LbEndpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LbEndpoint {
    /// The endpoint.
    pub endpoint: Endpoint,
}

/// `endpoint.v3.Endpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Its address.
    pub address: Address,
}

/// `upstreams.http.v3.HttpProtocolOptions` (explicit HTTP/2 only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpProtocolOptions {
    /// The protocol, fixed.
    pub explicit_http_config: ExplicitHttpConfig,
}

/// `HttpProtocolOptions.ExplicitHttpConfig` (HTTP/2 only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExplicitHttpConfig {
    /// HTTP/2 with default options.
    pub http2_protocol_options: Empty,
}
