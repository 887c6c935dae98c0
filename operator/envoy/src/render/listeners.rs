//! Listeners: plain HTTP, terminated TLS chosen by SNI, and TLS passthrough by SNI.

use std::path::Path;

use serde_json::{Value, json};

use super::{CLUSTER_HEADER, EGRESS_AUDIT_FILTER, ROUTER_FILTER, RenderOptions, wasm};
use portcullis_compile::plan::{ListenerKind, ListenerPlan, PassthroughPlan, TlsChainPlan};

/// Cluster with no endpoints: the destination of egress passthrough connections whose SNI no
/// chain serves. The audit filter records and closes them first; this only satisfies tcp_proxy.
pub(super) const BLACKHOLE_CLUSTER: &str = "portcullis.blackhole";

/// Whether the listener needs [`BLACKHOLE_CLUSTER`].
pub(super) fn needs_blackhole(l: &ListenerPlan) -> bool {
    l.kind == ListenerKind::Egress && !l.passthrough.is_empty()
}

/// One listener on `bind_address:bind_port`.
pub(super) fn listener(
    l: &ListenerPlan,
    wire_json: &str,
    audit_module: Option<&Path>,
    opts: &RenderOptions,
) -> Value {
    let hcm = http_connection_manager(l, opts);
    let mut chains: Vec<Value> = l.tls_chains.iter().map(|c| tls_chain(c, &hcm)).collect();
    let audit = match l.kind {
        ListenerKind::Egress => audit_module.map(|m| wasm::network_filter(m, wire_json)),
        ListenerKind::Ingress => None,
    };
    chains.extend(
        l.passthrough
            .iter()
            .map(|p| passthrough_chain(p, audit.as_ref())),
    );
    let sni_based = !chains.is_empty();
    if !sni_based {
        chains.push(json!({ "filters": [hcm] }));
    }

    let mut listener = json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": l.name,
        "address": {
            "socket_address": { "address": opts.bind_address, "port_value": l.bind_port }
        },
        "filter_chains": chains,
    });
    if sni_based {
        listener["listener_filters"] = json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
            },
        }]);
    }
    if needs_blackhole(l) {
        // Unknown SNI on an egress listener: audited (and denied by the filter), never dropped
        // silently by Envoy's "no matching filter chain".
        let mut filters: Vec<Value> = audit.into_iter().collect();
        filters.push(tcp_proxy(&l.name, BLACKHOLE_CLUSTER));
        listener["default_filter_chain"] = json!({ "filters": filters });
    }
    listener
}

/// The HCM shared by the plain and TLS chains of a listener.
fn http_connection_manager(l: &ListenerPlan, opts: &RenderOptions) -> Value {
    let dir = &opts.config_dir;
    let mut http_filters = Vec::new();
    if l.kind == ListenerKind::Egress {
        http_filters.push(wasm::http_filter_entry(
            EGRESS_AUDIT_FILTER,
            &dir.egress_audit_file(),
        ));
    }
    http_filters.push(wasm::http_filter_entry(ROUTER_FILTER, &dir.router_file()));
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
    }));

    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": l.name,
        "codec_type": "AUTO",
        // A gateway is the edge: it sets x-forwarded-proto from the real connection (G-7).
        "use_remote_address": true,
        "normalize_path": true,
        "upgrade_configs": [{ "upgrade_type": "websocket" }],
        // Defence in depth: a client-sent cluster header is gone before any filter runs, so
        // even a filter that forgot to set it could never let a client pick a cluster.
        "early_header_mutation_extensions": [{
            "name": "envoy.http.early_header_mutation.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
                "mutations": [{ "remove": CLUSTER_HEADER }],
            },
        }],
        "route_config": route_config(&l.name),
        "http_filters": http_filters,
    });
    if let Some(path) = &opts.access_log {
        hcm["access_log"] = json!([access_log(path)]);
    }
    json!({ "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm })
}

/// The catch-all route: the router filter has already chosen the cluster and written it to
/// [`CLUSTER_HEADER`]. `timeout: 0s` disables Envoy's 15 s default so the VirtualService
/// timeout (set by the filter per request) rules. The header is internal: upstreams never see it.
fn route_config(name: &str) -> Value {
    json!({
        "name": name,
        "virtual_hosts": [{
            "name": "portcullis",
            "domains": ["*"],
            "routes": [{
                "match": { "prefix": "/" },
                "route": { "cluster_header": CLUSTER_HEADER, "timeout": "0s" },
                "request_headers_to_remove": [CLUSTER_HEADER],
            }],
        }],
    })
}

fn access_log(path: &Path) -> Value {
    json!({
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path.display().to_string(),
            "log_format": { "json_format": {
                "start_time": "%START_TIME%",
                "method": "%REQ(:METHOD)%",
                "authority": "%REQ(:AUTHORITY)%",
                "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                "status": "%RESPONSE_CODE%",
                "flags": "%RESPONSE_FLAGS%",
                "details": "%RESPONSE_CODE_DETAILS%",
                "cluster": "%UPSTREAM_CLUSTER%",
                "duration_ms": "%DURATION%",
            }},
        },
    })
}

/// A terminated-TLS chain, selected by SNI (G-11).
fn tls_chain(c: &TlsChainPlan, hcm: &Value) -> Value {
    let mut common = json!({
        "tls_certificates": [{
            "certificate_chain": { "inline_string": c.certificate_chain_pem },
            "private_key": { "inline_string": c.private_key_pem },
        }],
        "alpn_protocols": ["h2", "http/1.1"],
    });
    if let Some(ca) = &c.client_ca_pem {
        common["validation_context"] = json!({ "trusted_ca": { "inline_string": ca } });
    }
    let mut chain = json!({
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": common,
                "require_client_certificate": c.require_client_certificate,
            },
        },
        "filters": [hcm],
    });
    if !c.server_names.is_empty() {
        chain["filter_chain_match"] = json!({ "server_names": c.server_names });
    }
    chain
}

/// A passthrough chain: SNI → audit (egress) → tcp_proxy to the cluster.
fn passthrough_chain(p: &PassthroughPlan, audit: Option<&Value>) -> Value {
    let mut filters: Vec<Value> = audit.cloned().into_iter().collect();
    filters.push(tcp_proxy(&p.cluster, &p.cluster));
    json!({
        "filter_chain_match": { "server_names": p.server_names },
        "filters": filters,
    })
}

fn tcp_proxy(stat_prefix: &str, cluster: &str) -> Value {
    json!({
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": stat_prefix,
            "cluster": cluster,
        },
    })
}
