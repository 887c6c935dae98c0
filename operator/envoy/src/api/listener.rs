//! `envoy.config.listener.v3` and the TCP proxy.

use serde::Serialize;

use super::{Address, FilterConfig, TransportSocket, TypedConfig};

/// `listener.v3.Listener`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Listener {
    /// Unique name (Istio's naming: `http.80`, `https.443`).
    pub name: String,
    /// Where it listens.
    pub address: Address,
    /// Filter chains, chosen by `filter_chain_match`.
    pub filter_chains: Vec<FilterChain>,
    /// Listener filters (the TLS inspector, for SNI-based chains).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listener_filters: Vec<ListenerFilter>,
    /// The chain for connections no other chain matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_filter_chain: Option<FilterChain>,
}

/// `listener.v3.FilterChain`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterChain {
    /// Its name, unique in the listener; filters read it as `xds.filter_chain_name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Which connections take this chain; none = every connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_chain_match: Option<FilterChainMatch>,
    /// TLS termination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_socket: Option<TransportSocket>,
    /// Network filters, in order.
    pub filters: Vec<Filter>,
}

/// `listener.v3.FilterChainMatch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilterChainMatch {
    /// SNI names (exact or `*.suffix`).
    pub server_names: Vec<String>,
}

/// `listener.v3.Filter`: a network filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Filter {
    /// The filter's name (also its ECDS resource name).
    pub name: String,
    /// Its configuration, inline or by ECDS.
    #[serde(flatten)]
    pub config: FilterConfig,
}

impl Filter {
    /// A filter configured inline.
    pub fn typed(name: impl Into<String>, config: TypedConfig) -> Self {
        Filter {
            name: name.into(),
            config: FilterConfig::Typed(config),
        }
    }
}

/// `listener.v3.ListenerFilter`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListenerFilter {
    /// The filter's name.
    pub name: String,
    /// Its configuration.
    pub typed_config: TypedConfig,
}

/// `filters.network.tcp_proxy.v3.TcpProxy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpProxy {
    /// Stats prefix.
    pub stat_prefix: String,
    /// Where connections go (the `cluster_specifier` oneof).
    #[serde(flatten)]
    pub upstream: TcpUpstream,
}

/// `TcpProxy.cluster_specifier`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpUpstream {
    /// One cluster.
    Cluster(String),
    /// Clusters chosen per connection by weight.
    WeightedClusters(TcpWeightedClusters),
}

/// `TcpProxy.WeightedCluster`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpWeightedClusters {
    /// The clusters.
    pub clusters: Vec<TcpClusterWeight>,
}

/// `TcpProxy.WeightedCluster.ClusterWeight`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpClusterWeight {
    /// The cluster.
    pub name: String,
    /// Its relative weight (≥ 1).
    pub weight: u32,
}
