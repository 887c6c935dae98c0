//! `envoy.config.bootstrap.v3.Bootstrap`.

use serde::Serialize;

use super::{Address, Cluster, ConfigSource, Node};

/// `bootstrap.v3.Bootstrap`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bootstrap {
    /// The proxy's identity.
    pub node: Node,
    /// The admin endpoint.
    pub admin: Admin,
    /// Where listeners and clusters come from.
    pub dynamic_resources: DynamicResources,
    /// Clusters known before any xDS (the xDS server itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_resources: Option<StaticResources>,
    /// Runtime flags.
    pub layered_runtime: LayeredRuntime,
}

/// `bootstrap.v3.LayeredRuntime`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayeredRuntime {
    /// Layers, later ones overriding earlier ones.
    pub layers: Vec<RuntimeLayer>,
}

/// `RuntimeLayer` with a static layer only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuntimeLayer {
    /// The layer's name.
    pub name: String,
    /// Flag → value.
    pub static_layer: serde_json::Map<String, serde_json::Value>,
}

/// `bootstrap.v3.Admin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// Where it listens.
    pub address: Address,
}

/// `Bootstrap.DynamicResources`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DynamicResources {
    /// LDS.
    pub lds_config: ConfigSource,
    /// CDS.
    pub cds_config: ConfigSource,
    /// The aggregated stream, when LDS and CDS say `ads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ads_config: Option<ApiConfigSource>,
}

/// `Bootstrap.StaticResources`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaticResources {
    /// Static clusters.
    pub clusters: Vec<Cluster>,
}

/// `core.v3.ApiConfigSource` (gRPC, one Envoy cluster).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiConfigSource {
    /// `GRPC` or `DELTA_GRPC`.
    pub api_type: ApiType,
    /// Always `V3`.
    pub transport_api_version: super::ApiVersion,
    /// The server, as an Envoy cluster.
    pub grpc_services: Vec<GrpcService>,
    /// Send only one request per type at a time, as ADS requires for ordering.
    pub set_node_on_first_message_only: bool,
}

/// `ApiConfigSource.ApiType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ApiType {
    /// State of the world over gRPC.
    #[serde(rename = "GRPC")]
    Grpc,
}

/// `core.v3.GrpcService` (Envoy's own gRPC client).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrpcService {
    /// The cluster.
    pub envoy_grpc: EnvoyGrpc,
}

/// `GrpcService.EnvoyGrpc`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvoyGrpc {
    /// The cluster's name.
    pub cluster_name: String,
}
