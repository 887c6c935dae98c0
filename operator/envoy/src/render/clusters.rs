//! Upstream clusters.

use std::collections::BTreeMap;

use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint};

use super::listeners::BLACKHOLE_CLUSTER;
use crate::api::{
    Address, Cluster, ClusterLoadAssignment, DiscoveryType, DnsLookupFamily, Duration, Empty,
    ExplicitHttpConfig, HttpProtocolOptions, LbEndpoint, LbPolicy, LocalityLbEndpoints,
    TransportSocket, TypedConfig, UpstreamTlsContext,
};

/// One cluster. DNS discovery is STRICT_DNS (every resolved address is an endpoint, as Istio
/// renders ServiceEntry `resolution: DNS`); IPv4 only, since local machines and sandboxes
/// often have no IPv6 route and Envoy would otherwise try AAAA answers first.
pub(super) fn cluster(c: &ClusterPlan) -> Cluster {
    let (discovery_type, endpoints) = match &c.discovery {
        Discovery::Static(eps) => (DiscoveryType::Static, eps),
        Discovery::Dns(eps) => (DiscoveryType::StrictDns, eps),
    };
    let mut typed_extension_protocol_options = BTreeMap::new();
    if c.http2 {
        typed_extension_protocol_options.insert(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
            TypedConfig::HttpProtocolOptions(HttpProtocolOptions {
                explicit_http_config: ExplicitHttpConfig {
                    http2_protocol_options: Empty {},
                },
            }),
        );
    }
    Cluster {
        name: c.name.clone(),
        discovery_type,
        connect_timeout: Duration::from_secs(5),
        lb_policy: Some(LbPolicy::RoundRobin),
        load_assignment: load_assignment(&c.name, endpoints),
        dns_lookup_family: (discovery_type == DiscoveryType::StrictDns)
            .then_some(DnsLookupFamily::V4Only),
        typed_extension_protocol_options,
        transport_socket: c.tls_sni.as_ref().map(|sni| TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            typed_config: TypedConfig::UpstreamTlsContext(Box::new(UpstreamTlsContext {
                sni: sni.clone(),
            })),
        }),
    }
}

/// The endpoint-less cluster behind egress passthrough's default chain.
pub(super) fn blackhole() -> Cluster {
    Cluster {
        name: BLACKHOLE_CLUSTER.into(),
        discovery_type: DiscoveryType::Static,
        connect_timeout: Duration::from_secs(1),
        lb_policy: None,
        load_assignment: ClusterLoadAssignment {
            cluster_name: BLACKHOLE_CLUSTER.into(),
            endpoints: vec![],
        },
        dns_lookup_family: None,
        typed_extension_protocol_options: BTreeMap::new(),
        transport_socket: None,
    }
}

fn load_assignment(name: &str, endpoints: &[Endpoint]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: name.to_string(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: endpoints
                .iter()
                .map(|e| LbEndpoint {
                    endpoint: crate::api::Endpoint {
                        address: Address::socket(e.address.clone(), e.port),
                    },
                })
                .collect(),
        }],
    }
}
