//! Upstream clusters.

use serde_json::{Value, json};

use super::listeners::BLACKHOLE_CLUSTER;
use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint};

const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// One cluster. DNS discovery is STRICT_DNS (every resolved address is an endpoint, as Istio
/// renders ServiceEntry `resolution: DNS`); IPv4 only, since local machines and sandboxes
/// often have no IPv6 route and Envoy would otherwise try AAAA answers first.
pub(super) fn cluster(c: &ClusterPlan) -> Value {
    let (kind, endpoints) = match &c.discovery {
        Discovery::Static(eps) => ("STATIC", eps),
        Discovery::Dns(eps) => ("STRICT_DNS", eps),
    };
    let mut cluster = json!({
        "@type": CLUSTER_TYPE,
        "name": c.name,
        "type": kind,
        "connect_timeout": "5s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": load_assignment(&c.name, endpoints),
    });
    if kind == "STRICT_DNS" {
        cluster["dns_lookup_family"] = json!("V4_ONLY");
    }
    if c.http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} },
            }
        });
    }
    if let Some(sni) = &c.tls_sni {
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": sni,
            },
        });
    }
    cluster
}

/// The endpoint-less cluster behind egress passthrough's default chain.
pub(super) fn blackhole() -> Value {
    json!({
        "@type": CLUSTER_TYPE,
        "name": BLACKHOLE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": { "cluster_name": BLACKHOLE_CLUSTER, "endpoints": [] },
    })
}

fn load_assignment(name: &str, endpoints: &[Endpoint]) -> Value {
    let lb_endpoints: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            json!({ "endpoint": { "address": {
                "socket_address": { "address": e.address, "port_value": e.port }
            }}})
        })
        .collect();
    json!({ "cluster_name": name, "endpoints": [{ "lb_endpoints": lb_endpoints }] })
}
