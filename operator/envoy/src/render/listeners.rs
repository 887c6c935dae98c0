//! Listeners: plain HTTP, terminated TLS chosen by SNI, and TLS passthrough by SNI.

use std::collections::BTreeMap;

use portcullis_compile::plan::{
    ListenerKind, ListenerPlan, PassthroughPlan, TcpPlan, TlsChainPlan, TlsSettings, TlsVersion,
    WeightedClusterPlan,
};

use super::{
    CLUSTER_HEADER, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER, MESH_DEFAULT_RETRY_ATTEMPTS,
    MESH_DEFAULT_RETRY_ON, OWN_RETRIES_HEADER, ROUTER_FILTER, RenderOptions, Source, secrets,
};
use crate::api::{
    AccessLog, Address, CodecType, CommonTlsContext, DownstreamTlsContext, Duration, Empty,
    ExtensionConfigSource, FileAccessLog, Filter, FilterChain, FilterChainMatch, FilterConfig,
    ForwardClientCertDetails, HTTP_WASM_TYPE, HeaderMutation, HeaderMutationOp, HeaderPresent,
    HttpConnectionManager, HttpFilter, Listener, ListenerFilter, LogFormat, NETWORK_WASM_TYPE,
    PathWithEscapedSlashesAction, RetryHostPredicate, RetryPolicy, Route, RouteAction,
    RouteConfiguration, RouteMatch, Secret, SetCurrentClientCertDetails, TcpClusterWeight,
    TcpProxy, TcpUpstream, TcpWeightedClusters, TlsParameters, TlsProtocol, TransportSocket,
    TypedConfig, TypedExtensionConfig, UpgradeConfig, VirtualHost,
};

/// The `server` header of responses, as Istio's gateways send it.
pub(super) const SERVER_NAME: &str = "istio-envoy";

/// Cluster with no endpoints: the destination of egress passthrough connections whose SNI no
/// chain serves. The audit filter records and closes them first; this only satisfies tcp_proxy.
pub(super) const BLACKHOLE_CLUSTER: &str = "portcullis.blackhole";

/// Whether the listener needs [`BLACKHOLE_CLUSTER`].
pub(super) fn needs_blackhole(l: &ListenerPlan) -> bool {
    l.kind == ListenerKind::Egress && !l.passthrough.is_empty()
}

/// One listener on `bind_address:bind_port` (the servers' `bind`, else the gateway's
/// default). TLS material delivered by SDS is added to `secrets`.
pub(super) fn listener(
    l: &ListenerPlan,
    opts: &RenderOptions,
    secrets: &mut Vec<Secret>,
) -> Listener {
    if let Some(tcp) = &l.tcp {
        return tcp_listener(l, tcp, opts);
    }
    let hcm = http_connection_manager(l, opts);
    let mut chains: Vec<FilterChain> = l
        .tls_chains
        .iter()
        .enumerate()
        .map(|(index, c)| tls_chain(c, &hcm, opts, secrets::Naming::new(&l.name, index), secrets))
        .collect();
    // The passthrough chains' audit filter, delivered by ECDS: one plugin for every chain
    // (an inline config would be one plugin per chain, each loading the module).
    let audit = needs_blackhole(l).then(|| Filter {
        name: EGRESS_AUDIT_TCP_FILTER.into(),
        config: FilterConfig::Discovery(ExtensionConfigSource {
            config_source: opts.source(Source::FilterConfig(EGRESS_AUDIT_TCP_FILTER)),
            type_urls: vec![NETWORK_WASM_TYPE.into()],
        }),
    });
    chains.extend(
        l.passthrough
            .iter()
            .map(|p| passthrough_chain(p, audit.as_ref())),
    );
    let sni_based = !chains.is_empty();
    if !sni_based {
        chains.push(FilterChain {
            name: String::new(),
            filter_chain_match: None,
            transport_socket: None,
            filters: vec![hcm],
        });
    }
    let listener_filters = if sni_based {
        vec![ListenerFilter {
            name: "envoy.filters.listener.tls_inspector".into(),
            typed_config: TypedConfig::TlsInspector(Empty {}),
        }]
    } else {
        vec![]
    };
    // Unknown SNI on an egress listener: audited (and denied by the filter), never dropped
    // silently by Envoy's "no matching filter chain".
    let default_filter_chain = needs_blackhole(l).then(|| {
        let mut filters: Vec<Filter> = audit.into_iter().collect();
        filters.push(tcp_proxy(
            &l.name,
            TcpUpstream::Cluster(BLACKHOLE_CLUSTER.into()),
        ));
        FilterChain {
            name: String::new(),
            filter_chain_match: None,
            transport_socket: None,
            filters,
        }
    });
    Listener {
        name: l.name.clone(),
        address: Address::socket(address(l, opts), l.bind_port),
        filter_chains: chains,
        listener_filters,
        default_filter_chain,
    }
}

/// G-15: a TCP listener is one chain, tcp_proxy to the rule's weighted clusters; no HTTP
/// filter runs, so the wire config has no listener for its port.
/// One cluster, or Envoy's weighted clusters when a rule has several destinations.
fn tcp_upstream(clusters: &[WeightedClusterPlan]) -> TcpUpstream {
    match clusters {
        [only] => TcpUpstream::Cluster(only.cluster.clone()),
        many => TcpUpstream::WeightedClusters(TcpWeightedClusters {
            clusters: many
                .iter()
                .map(|c| TcpClusterWeight {
                    name: c.cluster.clone(),
                    weight: c.weight,
                })
                .collect(),
        }),
    }
}

fn tcp_listener(l: &ListenerPlan, tcp: &TcpPlan, opts: &RenderOptions) -> Listener {
    let upstream = tcp_upstream(&tcp.clusters);
    Listener {
        name: l.name.clone(),
        address: Address::socket(address(l, opts), l.bind_port),
        filter_chains: vec![FilterChain {
            name: String::new(),
            filter_chain_match: None,
            transport_socket: None,
            filters: vec![tcp_proxy(&l.name, upstream)],
        }],
        listener_filters: vec![],
        default_filter_chain: None,
    }
}

/// The HCM shared by the plain and TLS chains of a listener.
fn http_connection_manager(l: &ListenerPlan, opts: &RenderOptions) -> Filter {
    let mut http_filters = Vec::new();
    if l.kind == ListenerKind::Egress {
        http_filters.push(ecds_filter(EGRESS_AUDIT_FILTER, opts));
    }
    http_filters.push(ecds_filter(ROUTER_FILTER, opts));
    http_filters.push(HttpFilter {
        name: "envoy.filters.http.router".into(),
        config: FilterConfig::Typed(TypedConfig::Router(Empty {})),
    });

    // Istio's gateway connection manager, setting by setting: docs/connection-manager.md.
    let hcm = HttpConnectionManager {
        stat_prefix: l.name.clone(),
        codec_type: CodecType::Auto,
        // A gateway is the edge: it sets x-forwarded-proto from the real connection, and the
        // filters decide httpsRedirect on it (G-7), so no hop is trusted.
        use_remote_address: true,
        xff_num_trusted_hops: 0,
        // S-1: Istio's BASE normalisation.
        normalize_path: true,
        merge_slashes: false,
        path_with_escaped_slashes_action: PathWithEscapedSlashesAction::KeepUnchanged,
        // Istio disables the per-stream idle limit (long polls, streaming gRPC).
        stream_idle_timeout: Duration::from_secs(0),
        // S-5: a client-sent x-forwarded-client-cert never passes; on a MUTUAL connection
        // Envoy sets it from the verified client certificate.
        forward_client_cert_details: ForwardClientCertDetails::SanitizeSet,
        set_current_client_cert_details: SetCurrentClientCertDetails {
            subject: true,
            cert: true,
            uri: true,
            dns: true,
        },
        server_name: SERVER_NAME.into(),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
        }],
        // A client-sent cluster header or retry-route header is gone before any filter runs:
        // a client can never pick a cluster (even if a filter forgot to set the header), nor
        // take the route without Istio's default retries.
        early_header_mutation_extensions: vec![TypedExtensionConfig {
            name: "envoy.http.early_header_mutation.header_mutation".into(),
            typed_config: TypedConfig::HeaderMutation(HeaderMutation {
                mutations: [CLUSTER_HEADER, OWN_RETRIES_HEADER]
                    .into_iter()
                    .map(|name| HeaderMutationOp {
                        remove: name.into(),
                    })
                    .collect(),
            }),
        }],
        route_config: route_config(&l.name),
        http_filters,
        access_log: opts.access_log.iter().map(|p| access_log(p)).collect(),
    };
    Filter::typed(
        "envoy.filters.network.http_connection_manager",
        TypedConfig::HttpConnectionManager(Box::new(hcm)),
    )
}

/// An HTTP filter whose configuration comes from ECDS. Without a default config the listener
/// warms until it has arrived, so no request ever runs without the filter.
fn ecds_filter(name: &str, opts: &RenderOptions) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config: FilterConfig::Discovery(ExtensionConfigSource {
            config_source: opts.source(Source::FilterConfig(name)),
            type_urls: vec![HTTP_WASM_TYPE.into()],
        }),
    }
}

/// Two catch-all routes: the router filter has already chosen the cluster and written it to
/// [`CLUSTER_HEADER`]. `timeout: 0s` disables Envoy's 15 s default so the VirtualService
/// timeout (set by the filter per request) rules. A request whose VirtualService rule has a
/// retry policy of its own (or none) carries [`OWN_RETRIES_HEADER`] and takes the first
/// route, without a retry policy, so only the filter's `x-envoy-*` retry headers apply; every
/// other request takes the second, with Istio's mesh default policy. Both headers are internal:
/// upstreams never see them.
fn route_config(name: &str) -> RouteConfiguration {
    let route = |headers: Vec<HeaderPresent>, retry_policy: Option<RetryPolicy>| Route {
        route_match: RouteMatch {
            prefix: "/".into(),
            headers,
        },
        route: RouteAction {
            cluster_header: CLUSTER_HEADER.into(),
            timeout: Duration::from_secs(0),
            retry_policy,
        },
        request_headers_to_remove: vec![CLUSTER_HEADER.into(), OWN_RETRIES_HEADER.into()],
    };
    RouteConfiguration {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: "portcullis".into(),
            domains: vec!["*".into()],
            routes: vec![
                route(
                    vec![HeaderPresent {
                        name: OWN_RETRIES_HEADER.into(),
                        present_match: true,
                    }],
                    None,
                ),
                route(Vec::new(), Some(mesh_default_retry_policy())),
            ],
        }],
    }
}

/// Istio's mesh default retry policy as Istio renders it on a route: the conditions and count
/// the router shares with the compiler ([`MESH_DEFAULT_RETRY_ON`],
/// [`MESH_DEFAULT_RETRY_ATTEMPTS`]), retries sent to hosts not yet tried, up to five host
/// selections per retry.
fn mesh_default_retry_policy() -> RetryPolicy {
    RetryPolicy {
        retry_on: MESH_DEFAULT_RETRY_ON.into(),
        num_retries: MESH_DEFAULT_RETRY_ATTEMPTS,
        retry_host_predicate: vec![RetryHostPredicate {
            name: "envoy.retry_host_predicates.previous_hosts".into(),
            typed_config: TypedConfig::PreviousHostsPredicate(Empty {}),
        }],
        host_selection_retry_max_attempts: 5,
    }
}

fn access_log(path: &std::path::Path) -> AccessLog {
    let json_format = [
        ("start_time", "%START_TIME%"),
        ("method", "%REQ(:METHOD)%"),
        ("authority", "%REQ(:AUTHORITY)%"),
        ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
        ("status", "%RESPONSE_CODE%"),
        ("flags", "%RESPONSE_FLAGS%"),
        ("details", "%RESPONSE_CODE_DETAILS%"),
        ("cluster", "%UPSTREAM_CLUSTER%"),
        ("duration_ms", "%DURATION%"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect::<BTreeMap<_, _>>();
    AccessLog {
        name: "envoy.access_loggers.file".into(),
        typed_config: TypedConfig::FileAccessLog(FileAccessLog {
            path: path.display().to_string(),
            log_format: LogFormat { json_format },
        }),
    }
}

/// A terminated-TLS chain, selected by SNI (G-11) and named as the wire config's
/// `Server.filterChain` names it, so the router routes in the table of the server whose chain
/// Envoy chose.
fn tls_chain(
    c: &TlsChainPlan,
    hcm: &Filter,
    opts: &RenderOptions,
    naming: secrets::Naming<'_>,
    secrets: &mut Vec<Secret>,
) -> FilterChain {
    // G-15: a terminated `TLS` server proxies the decrypted bytes; only HTTP negotiates ALPN.
    let (alpn_protocols, filters) = match &c.tcp {
        Some(tcp) => (
            vec![],
            vec![tcp_proxy(&c.name, tcp_upstream(&tcp.clusters))],
        ),
        None => (vec!["h2".into(), "http/1.1".into()], vec![hcm.clone()]),
    };
    let mut common = CommonTlsContext {
        alpn_protocols,
        tls_params: tls_params(&c.settings),
        ..CommonTlsContext::default()
    };
    secrets::attach(c, &mut common, opts, naming, secrets);
    FilterChain {
        name: c.name.clone(),
        filter_chain_match: (!c.server_names.is_empty()).then(|| FilterChainMatch {
            server_names: c.server_names.clone(),
        }),
        transport_socket: Some(TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            typed_config: TypedConfig::DownstreamTlsContext(Box::new(DownstreamTlsContext {
                common_tls_context: common,
                require_client_certificate: c.require_client_certificate,
            })),
        }),
        filters,
    }
}

/// G-14: protocol versions and cipher suites, when the server sets any (as Istio renders them).
fn tls_params(s: &TlsSettings) -> Option<TlsParameters> {
    let version = |v: Option<TlsVersion>| {
        v.map(|v| match v {
            TlsVersion::Auto => TlsProtocol::Auto,
            TlsVersion::V1_0 => TlsProtocol::V1_0,
            TlsVersion::V1_1 => TlsProtocol::V1_1,
            TlsVersion::V1_2 => TlsProtocol::V1_2,
            TlsVersion::V1_3 => TlsProtocol::V1_3,
        })
    };
    let params = TlsParameters {
        tls_minimum_protocol_version: version(s.min_protocol_version),
        tls_maximum_protocol_version: version(s.max_protocol_version),
        cipher_suites: s.cipher_suites.clone(),
    };
    (params != TlsParameters::default()).then_some(params)
}

/// A passthrough chain: SNI → audit (egress) → tcp_proxy to the rule's clusters; stats are
/// named after the first.
fn passthrough_chain(p: &PassthroughPlan, audit: Option<&Filter>) -> FilterChain {
    let mut filters: Vec<Filter> = audit.cloned().into_iter().collect();
    let stat_prefix = p.clusters.first().map_or("", |c| c.cluster.as_str());
    filters.push(tcp_proxy(stat_prefix, tcp_upstream(&p.clusters)));
    FilterChain {
        name: String::new(),
        filter_chain_match: Some(FilterChainMatch {
            server_names: p.server_names.clone(),
        }),
        transport_socket: None,
        filters,
    }
}

fn tcp_proxy(stat_prefix: &str, upstream: TcpUpstream) -> Filter {
    Filter::typed(
        "envoy.filters.network.tcp_proxy",
        TypedConfig::TcpProxy(TcpProxy {
            stat_prefix: stat_prefix.into(),
            upstream,
        }),
    )
}

/// The address `l` binds: its servers' `bind` (G-4), else the gateway's default.
fn address(l: &ListenerPlan, opts: &RenderOptions) -> String {
    l.bind_address
        .clone()
        .unwrap_or_else(|| opts.bind_address.clone())
}
