//! Egress through a real Envoy: the allow-list decides, every connection or request leaves an
//! audit record in Envoy's log.

use crate::support;

use crate::support::*;
use portcullis_compile::plan::{
    EnvoyPlan, ListenerKind, ListenerPlan, PassthroughPlan, WeightedClusterPlan,
};
use serde_json::json;

/// TLS passthrough by SNI: an allowed SNI is proxied to its cluster (audited `allowed`), an
/// unknown SNI is closed before any upstream connection (audited `denied`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_allows_listed_sni_and_denies_others() {
    let (bind, upstream) = (free_port(), free_port());
    let wire = wire(json!({
        "version": 1,
        "configVersion": "egress-tls",
        "listeners": [{
            "port": 443,
            "bindPort": bind,
            "servers": [{ "name": "istio-system/egress/tls", "hosts": ["api.example.org"] }],
        }],
        "egress": {
            "allowedHosts": [{ "host": "api.example.org", "ports": [443], "rule": "ServiceEntry default/api" }],
        },
    }));
    let cluster = "outbound|443||api.example.org";
    let plan = EnvoyPlan {
        listeners: vec![ListenerPlan {
            name: "tls.443".into(),
            gateway_port: 443,
            bind_port: bind,
            bind_address: None,
            kind: ListenerKind::Egress,
            tls_chains: vec![],
            passthrough: vec![PassthroughPlan {
                server_names: vec!["api.example.org".into()],
                clusters: vec![WeightedClusterPlan {
                    cluster: cluster.into(),
                    weight: 100,
                }],
            }],
            tcp: None,
        }],
        clusters: vec![local_cluster(cluster, upstream)],
    };
    let gw = start(wire, plan).await;

    // The upstream is the plain echo server, so the TLS handshake itself fails: what matters is
    // where the connection went.
    tls_hello("api.example.org", bind).await;
    let allowed = wait_audit(&gw, |r| r["sni"] == "api.example.org").await;
    assert_eq!(allowed["decision"], "allowed", "{allowed:#}");
    assert_eq!(allowed["protocol"], "tcp");
    assert_eq!(allowed["rule"], "ServiceEntry default/api");
    let cx = format!("cluster.{cluster}.upstream_cx_total");
    assert_eq!(
        gw.admin().counter(&cx).await.unwrap(),
        1,
        "allowed SNI reaches its cluster"
    );

    tls_hello("evil.example.com", bind).await;
    let denied = wait_audit(&gw, |r| r["sni"] == "evil.example.com").await;
    assert_eq!(denied["decision"], "denied", "{denied:#}");
    assert_eq!(
        gw.admin()
            .counter("cluster.portcullis.blackhole.upstream_cx_total")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        gw.admin().counter(&cx).await.unwrap(),
        1,
        "denied SNI never reaches an upstream"
    );

    finish(gw).await;
}

/// Opens a TLS connection with SNI `host` (curl; it gives up after a second).
async fn tls_hello(host: &str, port: u16) {
    let _ = tokio::process::Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "1",
            "--resolve",
            &format!("{host}:{port}:127.0.0.1"),
        ])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .await
        .unwrap();
}

/// HTTP egress: an allowed host reaches its upstream (audited `allowed` with method and
/// authority), any other host gets the deny status without an upstream (audited `denied`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_egress_allows_listed_hosts_and_denies_others() {
    let (bind, upstream) = (free_port(), free_port());
    let cluster = "outbound|80||httpbin.org";
    let wire = wire(json!({
        "version": 1,
        "configVersion": "egress-http",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "istio-system/egress/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "httpbin.org:80", "domains": ["httpbin.org"], "routes": [
                { "name": "httpbin", "action": { "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } } }
            ]}],
        }],
        "egress": {
            "allowedHosts": [{ "host": "httpbin.org", "ports": [80], "rule": "ServiceEntry default/httpbin" }],
        },
    }));
    let plan = EnvoyPlan {
        listeners: vec![support::http_listener(80, bind, ListenerKind::Egress)],
        clusters: vec![local_cluster(cluster, upstream)],
    };
    let gw = start(wire, plan).await;

    let r = support::http::get("httpbin.org", "/get?secret=1")
        .send(bind)
        .await;
    assert_eq!((r.status, r.upstream().as_str()), (200, cluster), "{r:?}");
    assert_eq!(r.echo()["path"], "/get?secret=1");
    let allowed = wait_audit(&gw, |r| r["authority"] == "httpbin.org").await;
    assert_eq!(allowed["decision"], "allowed", "{allowed:#}");
    assert_eq!(allowed["protocol"], "http");
    assert_eq!(allowed["method"], "GET");
    assert_eq!(allowed["status"], 200);
    assert_eq!(allowed["rule"], "ServiceEntry default/httpbin");
    assert!(
        !allowed.to_string().contains("secret=1"),
        "query redacted by default: {allowed}"
    );

    let r = support::http::get("evil.example.com", "/exfiltrate")
        .send(bind)
        .await;
    // Istio's egress gateway answer to a host it has no route for: a bare 404 (E-4).
    assert_eq!((r.status, r.upstream().as_str()), (404, ""), "{r:?}");
    assert_eq!(r.body, "", "{r:?}");
    let denied = wait_audit(&gw, |r| r["authority"] == "evil.example.com").await;
    assert_eq!(denied["decision"], "denied", "{denied:#}");

    finish(gw).await;
}
