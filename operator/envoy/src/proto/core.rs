//! `core.v3`, clusters, endpoints, wasm and extension configs.

use envoy_types::pb::envoy::config::cluster::v3 as cluster_pb;
use envoy_types::pb::envoy::config::core::v3 as core_pb;
use envoy_types::pb::envoy::config::endpoint::v3 as endpoint_pb;
use envoy_types::pb::envoy::extensions::filters::http::wasm::v3 as http_wasm_pb;
use envoy_types::pb::envoy::extensions::upstreams::http::v3 as upstream_http_pb;
use envoy_types::pb::envoy::extensions::wasm::v3 as wasm_pb;

use super::{any, duration};
use crate::api;

pub use super::listener::listener;
pub use super::tls::secret;

pub(super) fn address(a: &api::Address) -> core_pb::Address {
    core_pb::Address {
        address: Some(core_pb::address::Address::SocketAddress(
            core_pb::SocketAddress {
                address: a.socket_address.address.clone(),
                port_specifier: Some(core_pb::socket_address::PortSpecifier::PortValue(
                    u32::from(a.socket_address.port_value),
                )),
                ..Default::default()
            },
        )),
    }
}

pub(super) fn data_source(d: &api::DataSource) -> core_pb::DataSource {
    let specifier = match d {
        api::DataSource::InlineString(s) => {
            core_pb::data_source::Specifier::InlineString(s.clone())
        }
        api::DataSource::Filename(f) => core_pb::data_source::Specifier::Filename(f.clone()),
        api::DataSource::InlineBytes(b) => core_pb::data_source::Specifier::InlineBytes(b.to_vec()),
    };
    core_pb::DataSource {
        specifier: Some(specifier),
        ..Default::default()
    }
}

pub(super) fn config_source(c: &api::ConfigSource) -> core_pb::ConfigSource {
    let specifier = match &c.specifier {
        api::ConfigSourceSpecifier::PathConfigSource(p) => {
            core_pb::config_source::ConfigSourceSpecifier::PathConfigSource(
                core_pb::PathConfigSource {
                    path: p.path.clone(),
                    watched_directory: Some(core_pb::WatchedDirectory {
                        path: p.watched_directory.path.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
        }
        api::ConfigSourceSpecifier::Ads(_) => {
            core_pb::config_source::ConfigSourceSpecifier::Ads(core_pb::AggregatedConfigSource {})
        }
    };
    core_pb::ConfigSource {
        config_source_specifier: Some(specifier),
        resource_api_version: core_pb::ApiVersion::V3.into(),
        ..Default::default()
    }
}

/// An ECDS resource (or any named extension).
pub fn typed_extension_config(e: &api::TypedExtensionConfig) -> core_pb::TypedExtensionConfig {
    core_pb::TypedExtensionConfig {
        name: e.name.clone(),
        typed_config: Some(any(&e.typed_config)),
    }
}

pub(super) fn extension_config_source(
    e: &api::ExtensionConfigSource,
) -> core_pb::ExtensionConfigSource {
    core_pb::ExtensionConfigSource {
        config_source: Some(config_source(&e.config_source)),
        type_urls: e.type_urls.clone(),
        ..Default::default()
    }
}

pub(super) fn transport_socket(t: &api::TransportSocket) -> core_pb::TransportSocket {
    core_pb::TransportSocket {
        name: t.name.clone(),
        config_type: Some(core_pb::transport_socket::ConfigType::TypedConfig(any(
            &t.typed_config
        ))),
    }
}

/// A CDS resource.
pub fn cluster(c: &api::Cluster) -> cluster_pb::Cluster {
    let discovery = match c.discovery_type {
        api::DiscoveryType::Static => cluster_pb::cluster::DiscoveryType::Static,
        api::DiscoveryType::StrictDns => cluster_pb::cluster::DiscoveryType::StrictDns,
    };
    cluster_pb::Cluster {
        name: c.name.clone(),
        cluster_discovery_type: Some(cluster_pb::cluster::ClusterDiscoveryType::Type(
            discovery.into(),
        )),
        connect_timeout: Some(duration(c.connect_timeout)),
        lb_policy: match c.lb_policy {
            None | Some(api::LbPolicy::RoundRobin) => {
                cluster_pb::cluster::LbPolicy::RoundRobin.into()
            }
        },
        load_assignment: Some(load_assignment(&c.load_assignment)),
        dns_lookup_family: match c.dns_lookup_family {
            Some(api::DnsLookupFamily::V4Only) => {
                cluster_pb::cluster::DnsLookupFamily::V4Only.into()
            }
            None => cluster_pb::cluster::DnsLookupFamily::Auto.into(),
        },
        typed_extension_protocol_options: c
            .typed_extension_protocol_options
            .iter()
            .map(|(name, config)| (name.clone(), any(config)))
            .collect(),
        transport_socket: c.transport_socket.as_ref().map(transport_socket),
        ..Default::default()
    }
}

fn load_assignment(l: &api::ClusterLoadAssignment) -> endpoint_pb::ClusterLoadAssignment {
    endpoint_pb::ClusterLoadAssignment {
        cluster_name: l.cluster_name.clone(),
        endpoints: l
            .endpoints
            .iter()
            .map(|locality| endpoint_pb::LocalityLbEndpoints {
                lb_endpoints: locality
                    .lb_endpoints
                    .iter()
                    .map(|e| endpoint_pb::LbEndpoint {
                        host_identifier: Some(endpoint_pb::lb_endpoint::HostIdentifier::Endpoint(
                            endpoint_pb::Endpoint {
                                address: Some(address(&e.endpoint.address)),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// `HttpProtocolOptions` with explicit HTTP/2, the only options Portcullis sets.
pub(super) fn http2_protocol_options() -> upstream_http_pb::HttpProtocolOptions {
    use upstream_http_pb::http_protocol_options::{
        ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
    };
    upstream_http_pb::HttpProtocolOptions {
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                    core_pb::Http2ProtocolOptions::default(),
                )),
            },
        )),
        ..Default::default()
    }
}

/// The wasm filters' configuration (the HTTP and network `Wasm` messages are identical).
pub(super) fn wasm(w: &api::Wasm) -> http_wasm_pb::Wasm {
    let p = &w.config;
    let code = match &p.vm_config.code {
        api::AsyncDataSource::Local(d) => {
            core_pb::async_data_source::Specifier::Local(data_source(d))
        }
        api::AsyncDataSource::Remote(r) => {
            core_pb::async_data_source::Specifier::Remote(core_pb::RemoteDataSource {
                http_uri: Some(core_pb::HttpUri {
                    uri: r.http_uri.uri.clone(),
                    timeout: Some(duration(r.http_uri.timeout)),
                    http_upstream_type: Some(core_pb::http_uri::HttpUpstreamType::Cluster(
                        r.http_uri.cluster.clone(),
                    )),
                }),
                sha256: r.sha256.clone(),
                ..Default::default()
            })
        }
    };
    http_wasm_pb::Wasm {
        config: Some(wasm_pb::PluginConfig {
            name: p.name.clone(),
            root_id: p.root_id.clone(),
            vm: Some(wasm_pb::plugin_config::Vm::VmConfig(wasm_pb::VmConfig {
                vm_id: p.vm_config.vm_id.clone(),
                runtime: p.vm_config.runtime.clone(),
                code: Some(core_pb::AsyncDataSource {
                    specifier: Some(code),
                }),
                ..Default::default()
            })),
            configuration: Some(any(&p.configuration)),
            failure_policy: match p.failure_policy {
                api::FailurePolicy::FailReload => wasm_pb::FailurePolicy::FailReload.into(),
                api::FailurePolicy::FailClosed => wasm_pb::FailurePolicy::FailClosed.into(),
                api::FailurePolicy::FailOpen => wasm_pb::FailurePolicy::FailOpen.into(),
            },
            ..Default::default()
        }),
    }
}
