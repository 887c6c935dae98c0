//! V-24 retries through a real Envoy: Istio's mesh default policy comes from the rendered
//! route (the router writes no header for it), a VirtualService's own policy from the router's
//! `x-envoy-*` headers on the route without one, and no policy means no retries. Each
//! destination is a cluster whose only endpoint refuses connections (a `connect-failure`, which
//! every policy here retries on), so Envoy's `upstream_rq_retry` counter says how many retries
//! each request got.

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind};
use portcullis_core::contract::OWN_RETRIES_HEADER;
use portcullis_core::wire::Retries;
use serde_json::{Value, json};

fn route(prefix: &str, cluster: &str, retries: Value) -> Value {
    json!({
        "name": prefix.trim_start_matches('/'),
        "match": { "uri": { "prefix": prefix } },
        "action": { "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } },
        "retries": retries,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_mesh_default_a_policy_of_its_own_or_none() {
    let (bind, live) = (free_port(), free_port());
    let mesh_default = serde_json::to_value(Retries::mesh_default()).unwrap();
    let own = json!({ "attempts": 1, "retryOn": "connect-failure" });
    let wire = wire(json!({
        "version": 1,
        "configVersion": "retries",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "r", "domains": ["retries.example.com"], "routes": [
                route("/default", "down-default", mesh_default.clone()),
                route("/forged", "down-forged", mesh_default),
                route("/own", "down-own", own.clone()),
                route("/off", "down-off", Value::Null),
                route("/live", "live", own),
            ]}],
        }],
    }));
    // Nothing listens there (demo upstreams serve 127.0.0.1 only): every connection attempt
    // is refused.
    let down = |name: &str| ClusterPlan {
        name: name.into(),
        discovery: Discovery::Static(vec![Endpoint {
            address: "127.0.0.2".into(),
            port: free_port(),
        }]),
        http2: false,
        tls: None,
    };
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![
            down("down-default"),
            down("down-forged"),
            down("down-off"),
            down("down-own"),
            local_cluster("live", live),
        ],
    };
    let gw = start(wire, plan).await;

    for path in ["/default", "/own", "/off"] {
        let r = get("retries.example.com", path).send(bind).await;
        assert_eq!(r.status, 503, "{path}: {}", r.body);
    }
    // A client cannot take the route without the default policy by sending its header: the
    // connection manager strips it before any filter runs.
    let r = get("retries.example.com", "/forged")
        .header(OWN_RETRIES_HEADER, "1")
        .send(bind)
        .await;
    assert_eq!(r.status, 503, "{}", r.body);

    let retries = |cluster: &'static str| {
        let gw = &gw;
        async move {
            gw.admin()
                .counter(&format!("cluster.{cluster}.upstream_rq_retry"))
                .await
                .unwrap()
        }
    };
    assert_eq!(
        retries("down-default").await,
        2,
        "Istio's mesh default: 2 retries\n{}",
        gw.envoy_log_tail(30)
    );
    assert_eq!(
        retries("down-forged").await,
        2,
        "a forged header changes nothing"
    );
    assert_eq!(
        retries("down-own").await,
        1,
        "the route's own policy: 1 retry"
    );
    assert_eq!(retries("down-off").await, 0, "no policy: no retries");

    // The header that chose the route never reaches the upstream.
    let r = get("retries.example.com", "/live").send(bind).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream(), "live");
    assert_eq!(r.upstream_header(OWN_RETRIES_HEADER), None);
    finish(gw).await;
}
