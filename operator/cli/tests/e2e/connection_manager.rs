//! The HTTP connection manager behaves as Istio's gateway's does (docs/connection-manager.md),
//! through a real Envoy: a `#fragment` in the request path is stripped before routing (Istio's
//! runtime, not Envoy's default 400), responses say `server: istio-envoy`, and a client-sent
//! `x-forwarded-client-cert` never reaches the upstream on a plain-text connection (SANITIZE_SET;
//! e2e_mtls checks the header Envoy sets for a client certificate).

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_manager_matches_istios_gateway() {
    let (bind, upstream) = (free_port(), free_port());
    let wire = wire(json!({
        "version": 1,
        "configVersion": "hcm",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "all", "domains": ["*"], "routes": [
                { "name": "a", "match": { "uri": { "exact": "/a" } },
                  "action": { "route": { "destinations": [{ "cluster": "up", "weight": 100 }] } } }
            ]}],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![local_cluster("up", upstream)],
    };
    let gw = start(wire, plan).await;

    // S-1: the fragment is stripped, the route matches the path without it.
    let r = get("h.example.com", "/a?x=1#frag").send(bind).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echo()["path"], "/a?x=1");
    assert_eq!(r.header("server"), Some("istio-envoy"));

    // S-5: a client cannot hand the upstream a client-certificate header.
    let r = get("h.example.com", "/a")
        .header("x-forwarded-client-cert", "By=spiffe://evil;Hash=00")
        .send(bind)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.upstream_header("x-forwarded-client-cert"), None);

    // Local answers of the filter carry the same server header.
    let r = get("h.example.com", "/none").send(bind).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("server"), Some("istio-envoy"));
    finish(gw).await;
}
