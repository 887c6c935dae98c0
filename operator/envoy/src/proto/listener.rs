//! Listeners, the HTTP connection manager and its route table, the TCP proxy.

use envoy_types::pb::envoy::config::accesslog::v3 as accesslog_pb;
use envoy_types::pb::envoy::config::common::mutation_rules::v3 as mutation_pb;
use envoy_types::pb::envoy::config::core::v3 as core_pb;
use envoy_types::pb::envoy::config::listener::v3 as listener_pb;
use envoy_types::pb::envoy::config::route::v3 as route_pb;
use envoy_types::pb::envoy::extensions::access_loggers::file::v3 as file_log_pb;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm_pb;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3 as tcp_pb;
use envoy_types::pb::envoy::extensions::http::early_header_mutation::header_mutation::v3 as early_pb;
use envoy_types::pb::google::protobuf::{Struct, Value, value};

use super::core::{address, extension_config_source, transport_socket, typed_extension_config};
use super::{any, bool_value, duration};
use crate::api;

/// An LDS resource.
pub fn listener(l: &api::Listener) -> listener_pb::Listener {
    listener_pb::Listener {
        name: l.name.clone(),
        address: Some(address(&l.address)),
        filter_chains: l.filter_chains.iter().map(filter_chain).collect(),
        listener_filters: l
            .listener_filters
            .iter()
            .map(|f| listener_pb::ListenerFilter {
                name: f.name.clone(),
                config_type: Some(listener_pb::listener_filter::ConfigType::TypedConfig(any(
                    &f.typed_config,
                ))),
                ..Default::default()
            })
            .collect(),
        default_filter_chain: l.default_filter_chain.as_ref().map(filter_chain),
        ..Default::default()
    }
}

fn filter_chain(c: &api::FilterChain) -> listener_pb::FilterChain {
    listener_pb::FilterChain {
        name: c.name.clone(),
        filter_chain_match: c
            .filter_chain_match
            .as_ref()
            .map(|m| listener_pb::FilterChainMatch {
                server_names: m.server_names.clone(),
                ..Default::default()
            }),
        transport_socket: c.transport_socket.as_ref().map(transport_socket),
        filters: c
            .filters
            .iter()
            .map(|f| listener_pb::Filter {
                name: f.name.clone(),
                config_type: Some(match &f.config {
                    api::FilterConfig::Typed(t) => {
                        listener_pb::filter::ConfigType::TypedConfig(any(t))
                    }
                    api::FilterConfig::Discovery(d) => {
                        listener_pb::filter::ConfigType::ConfigDiscovery(extension_config_source(d))
                    }
                }),
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn hcm(h: &api::HttpConnectionManager) -> hcm_pb::HttpConnectionManager {
    hcm_pb::HttpConnectionManager {
        stat_prefix: h.stat_prefix.clone(),
        codec_type: match h.codec_type {
            api::CodecType::Auto => hcm_pb::http_connection_manager::CodecType::Auto.into(),
        },
        use_remote_address: Some(bool_value(h.use_remote_address)),
        xff_num_trusted_hops: h.xff_num_trusted_hops,
        normalize_path: Some(bool_value(h.normalize_path)),
        merge_slashes: h.merge_slashes,
        path_with_escaped_slashes_action: match h.path_with_escaped_slashes_action {
            api::PathWithEscapedSlashesAction::KeepUnchanged => {
                hcm_pb::http_connection_manager::PathWithEscapedSlashesAction::KeepUnchanged.into()
            }
        },
        stream_idle_timeout: Some(duration(h.stream_idle_timeout)),
        forward_client_cert_details: match h.forward_client_cert_details {
            api::ForwardClientCertDetails::SanitizeSet => {
                hcm_pb::http_connection_manager::ForwardClientCertDetails::SanitizeSet.into()
            }
        },
        set_current_client_cert_details: Some(
            hcm_pb::http_connection_manager::SetCurrentClientCertDetails {
                subject: Some(bool_value(h.set_current_client_cert_details.subject)),
                cert: h.set_current_client_cert_details.cert,
                uri: h.set_current_client_cert_details.uri,
                dns: h.set_current_client_cert_details.dns,
                ..Default::default()
            },
        ),
        server_name: h.server_name.clone(),
        upgrade_configs: h
            .upgrade_configs
            .iter()
            .map(|u| hcm_pb::http_connection_manager::UpgradeConfig {
                upgrade_type: u.upgrade_type.clone(),
                ..Default::default()
            })
            .collect(),
        early_header_mutation_extensions: h
            .early_header_mutation_extensions
            .iter()
            .map(typed_extension_config)
            .collect(),
        route_specifier: Some(
            hcm_pb::http_connection_manager::RouteSpecifier::RouteConfig(route_configuration(
                &h.route_config,
            )),
        ),
        http_filters: h.http_filters.iter().map(http_filter).collect(),
        access_log: h
            .access_log
            .iter()
            .map(|a| accesslog_pb::AccessLog {
                name: a.name.clone(),
                config_type: Some(accesslog_pb::access_log::ConfigType::TypedConfig(any(
                    &a.typed_config
                ))),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn http_filter(f: &api::HttpFilter) -> hcm_pb::HttpFilter {
    let config = match &f.config {
        api::FilterConfig::Typed(t) => hcm_pb::http_filter::ConfigType::TypedConfig(any(t)),
        api::FilterConfig::Discovery(d) => {
            hcm_pb::http_filter::ConfigType::ConfigDiscovery(extension_config_source(d))
        }
    };
    hcm_pb::HttpFilter {
        name: f.name.clone(),
        config_type: Some(config),
        ..Default::default()
    }
}

fn route_configuration(r: &api::RouteConfiguration) -> route_pb::RouteConfiguration {
    route_pb::RouteConfiguration {
        name: r.name.clone(),
        virtual_hosts: r
            .virtual_hosts
            .iter()
            .map(|v| route_pb::VirtualHost {
                name: v.name.clone(),
                domains: v.domains.clone(),
                routes: v.routes.iter().map(route).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn route(r: &api::Route) -> route_pb::Route {
    route_pb::Route {
        r#match: Some(route_pb::RouteMatch {
            path_specifier: Some(route_pb::route_match::PathSpecifier::Prefix(
                r.route_match.prefix.clone(),
            )),
            headers: r
                .route_match
                .headers
                .iter()
                .map(|h| route_pb::HeaderMatcher {
                    name: h.name.clone(),
                    header_match_specifier: Some(
                        route_pb::header_matcher::HeaderMatchSpecifier::PresentMatch(
                            h.present_match,
                        ),
                    ),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        action: Some(route_pb::route::Action::Route(route_pb::RouteAction {
            cluster_specifier: Some(route_pb::route_action::ClusterSpecifier::ClusterHeader(
                r.route.cluster_header.clone(),
            )),
            timeout: Some(duration(r.route.timeout)),
            retry_policy: r.route.retry_policy.as_ref().map(retry_policy),
            ..Default::default()
        })),
        request_headers_to_remove: r.request_headers_to_remove.clone(),
        ..Default::default()
    }
}

fn retry_policy(p: &api::RetryPolicy) -> route_pb::RetryPolicy {
    route_pb::RetryPolicy {
        retry_on: p.retry_on.clone(),
        num_retries: Some(envoy_types::pb::google::protobuf::UInt32Value {
            value: p.num_retries,
        }),
        retry_host_predicate: p
            .retry_host_predicate
            .iter()
            .map(|h| route_pb::retry_policy::RetryHostPredicate {
                name: h.name.clone(),
                config_type: Some(
                    route_pb::retry_policy::retry_host_predicate::ConfigType::TypedConfig(any(
                        &h.typed_config
                    )),
                ),
            })
            .collect(),
        host_selection_retry_max_attempts: p.host_selection_retry_max_attempts,
        ..Default::default()
    }
}

pub(super) fn tcp_proxy(t: &api::TcpProxy) -> tcp_pb::TcpProxy {
    use tcp_pb::tcp_proxy::weighted_cluster::ClusterWeight;
    use tcp_pb::tcp_proxy::{ClusterSpecifier, WeightedCluster};
    let specifier = match &t.upstream {
        api::TcpUpstream::Cluster(name) => ClusterSpecifier::Cluster(name.clone()),
        api::TcpUpstream::WeightedClusters(w) => {
            ClusterSpecifier::WeightedClusters(WeightedCluster {
                clusters: w
                    .clusters
                    .iter()
                    .map(|c| ClusterWeight {
                        name: c.name.clone(),
                        weight: c.weight,
                        ..Default::default()
                    })
                    .collect(),
            })
        }
    };
    tcp_pb::TcpProxy {
        stat_prefix: t.stat_prefix.clone(),
        cluster_specifier: Some(specifier),
        ..Default::default()
    }
}

pub(super) fn header_mutation(m: &api::HeaderMutation) -> early_pb::HeaderMutation {
    early_pb::HeaderMutation {
        mutations: m
            .mutations
            .iter()
            .map(|op| mutation_pb::HeaderMutation {
                action: Some(mutation_pb::header_mutation::Action::Remove(
                    op.remove.clone(),
                )),
            })
            .collect(),
    }
}

pub(super) fn file_access_log(f: &api::FileAccessLog) -> file_log_pb::FileAccessLog {
    let fields = f
        .log_format
        .json_format
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value {
                    kind: Some(value::Kind::StringValue(v.clone())),
                },
            )
        })
        .collect();
    file_log_pb::FileAccessLog {
        path: f.path.clone(),
        access_log_format: Some(file_log_pb::file_access_log::AccessLogFormat::LogFormat(
            core_pb::SubstitutionFormatString {
                format: Some(core_pb::substitution_format_string::Format::JsonFormat(
                    Struct { fields },
                )),
                ..Default::default()
            },
        )),
    }
}
