//! G-15 through a real Envoy: a TCP server next to an HTTP one, its connections proxied to the
//! first applying `VirtualService.tcp` rule's destinations by weight, and no HTTP filter on
//! the way (the upstream sees the bytes the client sent).

use std::collections::BTreeMap;

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::compile::GatewayIdentity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_follow_the_weighted_tcp_rule() {
    let (http, tcp) = (free_port(), free_port());
    let (web, mongo_a, mongo_b) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: bookinfo-gateway, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {http}, name: http, protocol: HTTP}}
    hosts: ['*']
  - port: {{number: {tcp}, name: mongo, protocol: MONGO}}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bookinfo, namespace: default}}
spec:
  hosts: ['*']
  gateways: [bookinfo-gateway]
  http:
  - route: [{{destination: {{host: web.demo.local, port: {{number: 80}}}}}}]
  tcp:
  - match: [{{port: {http}}}]
    route: [{{destination: {{host: web.demo.local, port: {{number: 80}}}}}}]
  - match: [{{port: {tcp}}}]
    route:
    - {{destination: {{host: mongo-a.demo.local, port: {{number: 27017}}}}, weight: 50}}
    - {{destination: {{host: mongo-b.demo.local, port: {{number: 27017}}}}, weight: 50}}
---{}---{}---{}",
        local_service_entry("web", 80, "TCP", web),
        local_service_entry("mongo-a", 27017, "TCP", mongo_a),
        local_service_entry("mongo-b", 27017, "TCP", mongo_b),
    );
    let (wire, plan) = compile_istio(&yaml, &GatewayIdentity::default());
    let gw = start(wire, plan).await;

    // HTTP still goes through the router.
    let r = get("shop.example.com", "/").send(http).await;
    assert_eq!(r.upstream(), "outbound|80||web.demo.local", "{r:?}");
    assert!(r.upstream_header("x-request-id").is_some(), "{r:?}");

    // TCP: the echo upstream answers whatever arrives; the Host header the client wrote
    // arrives untouched (no HTTP filter rewrote it), and both weighted destinations get
    // connections.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..40 {
        let r = get("mongo.example.com", "/raw").send(tcp).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.echo()["headers"]["host"], "mongo.example.com", "{r:?}");
        assert!(
            r.upstream_header("x-request-id").is_none(),
            "no connection manager saw a TCP connection: {r:?}"
        );
        *seen.entry(r.upstream()).or_default() += 1;
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "outbound|27017||mongo-a.demo.local",
            "outbound|27017||mongo-b.demo.local"
        ],
        "{seen:?}"
    );
    finish(gw).await;
}

/// G-15 with TLS: a `TLS` server in SIMPLE mode terminates the connection and proxies the
/// decrypted bytes by the tcp rule, while an HTTPS server on the same port (another SNI) runs
/// HTTP routing; an SNI neither server names gets no handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_tls_connections_follow_the_tcp_rule() {
    use crate::support::http::curl_https;
    use rcgen::ExtendedKeyUsagePurpose;

    let (port, web, db) = (free_port(), free_port(), free_port());
    let ca = pki::ca("Portcullis tcp-tls CA");
    let (cert, key) = pki::leaf(
        &ca,
        "gateway",
        &["web.example.com", "db.example.com"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let quoted = |pem: &str| serde_json::to_string(pem).unwrap();
    let yaml = format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: https, protocol: HTTPS}}
    hosts: [web.example.com]
    tls: {{mode: SIMPLE, credentialName: gateway-cert}}
  - port: {{number: {port}, name: tls, protocol: TLS}}
    hosts: [db.example.com]
    tls: {{mode: SIMPLE, credentialName: gateway-cert}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: v, namespace: default}}
spec:
  hosts: [web.example.com, db.example.com]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: web.demo.local, port: {{number: 80}}}}}}]
  tcp:
  - route: [{{destination: {{host: db.demo.local, port: {{number: 5432}}}}}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: gateway-cert, namespace: istio-system}}
type: kubernetes.io/tls
stringData:
  tls.crt: {}
  tls.key: {}
---{}---{}",
        quoted(&cert),
        quoted(&key),
        local_service_entry("web", 80, "TCP", web),
        local_service_entry("db", 5432, "TCP", db),
    );
    let (wire, plan) = compile_istio(
        &yaml,
        &GatewayIdentity {
            namespace: "istio-system".into(),
            ..GatewayIdentity::default()
        },
    );
    let gw = start(wire, plan).await;
    let ca_file = gw.state_dir().join("tcp-tls-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    // The TLS server: the echo upstream answers the decrypted HTTP request itself; no
    // connection manager saw it (no x-request-id, no x-forwarded-proto).
    let (status, body) = curl_https("db.example.com", port, "/raw", &ca_file).await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["upstream"], "outbound|5432||db.demo.local", "{echo}");
    assert!(echo["headers"]["x-request-id"].is_null(), "{echo}");
    assert!(echo["headers"]["x-forwarded-proto"].is_null(), "{echo}");

    // The HTTPS server on the same port routes HTTP as usual.
    let (status, body) = curl_https("web.example.com", port, "/", &ca_file).await;
    assert_eq!(status, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["upstream"], "outbound|80||web.demo.local", "{echo}");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https", "{echo}");

    // An SNI no server names: no chain, no handshake.
    let (status, _) = curl_https("other.example.com", port, "/", &ca_file).await;
    assert_eq!(status, 0);
    finish(gw).await;
}
