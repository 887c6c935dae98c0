//! The bootstrap: node identity, admin, and where the dynamic resources come from.

use std::collections::BTreeMap;

use super::{Source, source};
use crate::api::{
    Address, ApiConfigSource, ApiType, ApiVersion, Bootstrap, Cluster, ClusterLoadAssignment,
    DiscoveryType, DnsLookupFamily, Duration, DynamicResources, Empty, Endpoint, EnvoyGrpc,
    ExplicitHttpConfig, GrpcService, HttpProtocolOptions, LayeredRuntime, LbEndpoint,
    LocalityLbEndpoints, Node, RuntimeLayer, StaticResources, TypedConfig,
};
use crate::delivery::{ConfigDelivery, XdsServer};

/// The Envoy cluster of the xDS server in an ADS bootstrap.
pub const XDS_CLUSTER: &str = "portcullis-xds";

/// Who the proxy is and where its configuration comes from: everything a bootstrap says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapOptions {
    /// `node.id`: names the proxy in the server's status (ECDS requires one).
    pub node_id: String,
    /// The gateway workload's labels, sent as node metadata `LABELS`; the server selects the
    /// Gateways that apply by them (G-1).
    pub labels: BTreeMap<String, String>,
    /// The gateway workload's namespace, sent as node metadata `NAMESPACE`.
    pub namespace: Option<String>,
    /// Admin listener port on 127.0.0.1.
    pub admin_port: u16,
    /// Where the dynamic resources come from.
    pub delivery: ConfigDelivery,
}

/// Renders the bootstrap. It depends only on the options, never on the plan, so it is written
/// once and Envoy never needs a restart for a configuration change.
pub fn render_bootstrap(opts: &BootstrapOptions) -> Bootstrap {
    let (ads_config, static_resources) = match &opts.delivery {
        ConfigDelivery::Files(_) => (None, None),
        ConfigDelivery::Ads(server) => (
            Some(ApiConfigSource {
                api_type: ApiType::Grpc,
                transport_api_version: ApiVersion::V3,
                grpc_services: vec![GrpcService {
                    envoy_grpc: EnvoyGrpc {
                        cluster_name: XDS_CLUSTER.into(),
                    },
                }],
                set_node_on_first_message_only: true,
            }),
            Some(StaticResources {
                clusters: vec![xds_cluster(server)],
            }),
        ),
    };
    Bootstrap {
        // ECDS over files requires both node.id and node.cluster.
        node: Node {
            id: opts.node_id.clone(),
            cluster: "portcullis".into(),
            metadata: node_metadata(opts),
        },
        admin: crate::api::Admin {
            address: Address::socket("127.0.0.1", opts.admin_port),
        },
        dynamic_resources: DynamicResources {
            lds_config: source(&opts.delivery, Source::Listeners),
            cds_config: source(&opts.delivery, Source::Clusters),
            ads_config,
        },
        static_resources,
        layered_runtime: runtime(),
    }
}

/// Istio's bootstrap runtime where it decides request handling: a `#fragment` in the path is
/// stripped before routing rather than rejected with 400 (S-1; docs/connection-manager.md).
fn runtime() -> LayeredRuntime {
    let mut flags = serde_json::Map::new();
    flags.insert(
        "envoy.reloadable_features.http_reject_path_with_fragment".into(),
        serde_json::Value::Bool(false),
    );
    LayeredRuntime {
        layers: vec![RuntimeLayer {
            name: "portcullis".into(),
            static_layer: flags,
        }],
    }
}

fn node_metadata(opts: &BootstrapOptions) -> serde_json::Map<String, serde_json::Value> {
    let mut metadata = serde_json::Map::new();
    if !opts.labels.is_empty() {
        let labels = opts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        metadata.insert("LABELS".into(), serde_json::Value::Object(labels));
    }
    if let Some(ns) = &opts.namespace {
        metadata.insert("NAMESPACE".into(), serde_json::Value::String(ns.clone()));
    }
    metadata
}

/// The xDS server as an HTTP/2 cluster (gRPC); a hostname is resolved by DNS.
fn xds_cluster(server: &XdsServer) -> Cluster {
    let is_ip = server.address.parse::<std::net::IpAddr>().is_ok();
    Cluster {
        name: XDS_CLUSTER.into(),
        discovery_type: if is_ip {
            DiscoveryType::Static
        } else {
            DiscoveryType::StrictDns
        },
        connect_timeout: Duration::from_secs(1),
        lb_policy: None,
        load_assignment: ClusterLoadAssignment {
            cluster_name: XDS_CLUSTER.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    endpoint: Endpoint {
                        address: Address::socket(server.address.clone(), server.port),
                    },
                }],
            }],
        },
        dns_lookup_family: (!is_ip).then_some(DnsLookupFamily::V4Only),
        typed_extension_protocol_options: BTreeMap::from([(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
            TypedConfig::HttpProtocolOptions(HttpProtocolOptions {
                explicit_http_config: ExplicitHttpConfig {
                    http2_protocol_options: Empty {},
                },
            }),
        )]),
        transport_socket: None,
    }
}
