//! The seed example end to end through a real Envoy: dev.example.com → dev upstream,
//! test.example.com → test upstream, any other host → 404 (G-10).

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_routes_by_host_and_404s_unknown_hosts() {
    let (bind, dev, test) = (free_port(), free_port(), free_port());
    let wire = wire(json!({
        "version": 1,
        "configVersion": "seed",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*.example.com"] }],
            "virtualHosts": [
                { "name": "dev.example.com:80", "domains": ["dev.example.com"], "routes": [
                    { "name": "dev", "action": { "route": { "destinations": [{ "cluster": "dev", "weight": 100 }] } } }
                ]},
                { "name": "test.example.com:80", "domains": ["test.example.com"], "routes": [
                    { "name": "test", "action": { "route": { "destinations": [{ "cluster": "test", "weight": 100 }] } } }
                ]},
            ],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![local_cluster("dev", dev), local_cluster("test", test)],
    };
    let gw = start(wire, plan).await;

    let r = get("dev.example.com", "/hello?x=1").send(bind).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.upstream(), "dev");
    assert_eq!(r.echo()["path"], "/hello?x=1");
    assert_eq!(
        r.upstream_header("host").as_deref(),
        Some("dev.example.com")
    );
    assert_eq!(
        r.upstream_header("x-portcullis-cluster"),
        None,
        "internal header leaked upstream"
    );

    // A client cannot pick the cluster with the internal header.
    let r = get("dev.example.com", "/")
        .header("x-portcullis-cluster", "test")
        .send(bind)
        .await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "dev"), "{r:?}");

    let r = get("test.example.com:80", "/").send(bind).await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "test"), "{r:?}");

    let r = get("other.example.org", "/").send(bind).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        r.echo(),
        serde_json::Value::Null,
        "a 404 must not reach an upstream"
    );

    finish(gw).await;
}
