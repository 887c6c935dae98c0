//! A DNS-discovered cluster (ServiceEntry `resolution: DNS` → STRICT_DNS, IPv4 only) through a
//! real Envoy: the endpoint is `localhost`, which Envoy resolves itself, and a request routed to
//! that cluster reaches the echo upstream the test serves on 127.0.0.1.

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind};
use serde_json::json;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_cluster_resolves_localhost_and_routes() {
    let bind = free_port();
    // The echo upstream is served here: demo upstreams only cover STATIC endpoints.
    let echo = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    let server = tokio::spawn(portcullis::local::demo::serve(echo, "by-dns".into()));

    let wire = wire(json!({
        "version": 1,
        "configVersion": "dns",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "dns", "domains": ["dns.example.com"], "routes": [
                { "name": "dns", "action": { "route": { "destinations": [{ "cluster": "by-dns", "weight": 100 }] } } }
            ]}],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![ClusterPlan {
            name: "by-dns".into(),
            discovery: Discovery::Dns(vec![Endpoint {
                address: "localhost".into(),
                port: echo_port,
            }]),
            http2: false,
            tls: None,
        }],
    };
    let gw = start_with(wire, plan, false).await;

    // The first resolution may land just after the listener is up: retry briefly on 503.
    let mut r = get("dns.example.com", "/resolved").send(bind).await;
    for _ in 0..50 {
        if r.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        r = get("dns.example.com", "/resolved").send(bind).await;
    }
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.envoy_log_tail(30));
    assert_eq!(r.upstream(), "by-dns");
    assert_eq!(r.echo()["path"], "/resolved");
    assert!(
        gw.admin()
            .counter("cluster.by-dns.update_success")
            .await
            .unwrap()
            >= 1,
        "Envoy resolved the endpoint"
    );
    assert_eq!(
        gw.admin()
            .counter("cluster.by-dns.membership_healthy")
            .await
            .unwrap(),
        1,
        "localhost resolves to one IPv4 endpoint"
    );

    server.abort();
    finish(gw).await;
}
