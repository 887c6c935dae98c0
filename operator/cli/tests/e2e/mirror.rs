//! Traffic mirroring (V-24) through a real Envoy: the router filter answers the request from its
//! main upstream and sends a fire-and-forget copy to the mirror cluster, whose authority carries
//! Envoy's `-shadow` suffix. The mirror is served by a recording listener on 127.0.0.2 (outside
//! the demo upstreams, which serve 127.0.0.1), so the test sees exactly what the copy carried.

use crate::support;

use std::time::Duration;

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{
    ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind, ListenerPlan, PemSource,
    ServerVerification, TlsChainPlan, UpstreamTlsPlan,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Accepts connections, sends each request head (lower-cased header lines) to `heads` and
/// answers `204` with `connection: close`.
async fn record(listener: TcpListener, heads: mpsc::UnboundedSender<String>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let heads = heads.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = heads.send(String::from_utf8_lossy(&buf).to_string());
            let _ = stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_copies_the_request_to_the_shadow_cluster() {
    let (bind, main) = (free_port(), free_port());
    let shadow = TcpListener::bind(("127.0.0.2", 0)).await.unwrap();
    let shadow_port = shadow.local_addr().unwrap().port();
    let (tx, mut heads) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(shadow, tx));

    let wire = wire(json!({
        "version": 1,
        "configVersion": "mirror",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "shop", "domains": ["shop.example.com"], "routes": [
                { "name": "mirrored",
                  "action": { "route": { "destinations": [{ "cluster": "main", "weight": 100 }] } },
                  "mirrors": [{ "cluster": "shadow", "percentage": 100.0 }] }
            ]}],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        // The mirror cluster is in the plan like any routed cluster (sorted by name).
        clusters: vec![
            local_cluster("main", main),
            ClusterPlan {
                name: "shadow".into(),
                discovery: Discovery::Static(vec![Endpoint {
                    address: "127.0.0.2".into(),
                    port: shadow_port,
                }]),
                http2: false,
                tls: None,
            },
        ],
    };
    let gw = start(wire, plan).await;

    let r = get("shop.example.com", "/cart?item=1")
        .header("x-trace", "mirror-e2e")
        .send(bind)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream(), "main");
    assert_eq!(
        r.upstream_header("host").as_deref(),
        Some("shop.example.com"),
        "the main upstream sees the original authority"
    );

    // The copy reaches the mirror cluster: Envoy counts it …
    let mut total = 0;
    for _ in 0..100 {
        total = gw
            .admin()
            .counter("cluster.shadow.upstream_rq_total")
            .await
            .unwrap();
        if total >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        total,
        1,
        "cluster.shadow.upstream_rq_total\n{}",
        gw.envoy_log_tail(30)
    );
    assert_eq!(
        gw.admin()
            .counter("cluster.main.upstream_rq_total")
            .await
            .unwrap(),
        1
    );

    // … and the mirror received the request with the `-shadow` authority, same path and headers,
    // without the router's internal cluster header.
    let head = tokio::time::timeout(Duration::from_secs(5), heads.recv())
        .await
        .expect("the mirror received a copy")
        .unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("get /cart?item=1 http/1.1\r\n"), "{head}");
    assert!(
        lower.contains("\r\nhost: shop.example.com-shadow\r\n"),
        "{head}"
    );
    assert!(lower.contains("\r\nx-trace: mirror-e2e\r\n"), "{head}");
    assert!(!lower.contains("x-portcullis-cluster"), "{head}");

    recorder.abort();
    finish(gw).await;
}

/// A slow upstream: accepts a connection, waits `delay`, then connects to `target` and relays
/// both ways. A TLS client's handshake through it cannot finish before `delay`.
async fn slow_relay(listener: TcpListener, target: u16, delay: Duration) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
            else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}

/// V-24: a mirror that is slower than the main upstream still gets its copy, whether the main
/// request was answered first or its client went away. The mirror is reached over TLS through
/// a relay that holds each connection for a second before the handshake can proceed, so the
/// stream has long ended when the copy can be sent: Envoy keeps the stream's callout until it
/// completes (or its timeout passes), it does not cancel it with the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_mirror_still_receives_its_copy() {
    let (bind, main, tls_bind) = (free_port(), free_port(), free_port());
    let relay = TcpListener::bind(("127.0.0.2", 0)).await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let recorder = TcpListener::bind(("127.0.0.2", 0)).await.unwrap();
    let recorder_port = recorder.local_addr().unwrap().port();
    let (tx, mut heads) = mpsc::unbounded_channel();
    let tasks = [
        tokio::spawn(record(recorder, tx)),
        tokio::spawn(slow_relay(relay, tls_bind, Duration::from_secs(1))),
    ];

    let ca = support::pki::ca("mirror CA");
    let (cert, key) = support::pki::leaf(
        &ca,
        "shadow.test",
        &["shadow.test"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let wire = wire(json!({
        "version": 1,
        "configVersion": "slow-mirror",
        "listeners": [
            { "port": 80, "bindPort": bind,
              "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
              "virtualHosts": [{ "name": "shop", "domains": ["shop.example.com"], "routes": [
                  { "name": "mirrored",
                    "action": { "route": { "destinations": [{ "cluster": "main", "weight": 100 }] } },
                    "mirrors": [{ "cluster": "shadow", "percentage": 100.0 }] }
              ]}] },
            { "port": tls_bind, "bindPort": tls_bind,
              "servers": [{ "name": "default/shadow/https", "hosts": ["*"], "tls": true,
                  "virtualHosts": [{ "name": "shadow", "domains": ["*"], "routes": [
                      { "name": "shadow", "action": { "route": { "destinations": [{ "cluster": "recorder", "weight": 100 }] } } }
                  ]}] }] },
        ],
    }));
    let at = |address: &str, port: u16| {
        Discovery::Static(vec![Endpoint {
            address: address.into(),
            port,
        }])
    };
    let plan = EnvoyPlan {
        listeners: vec![
            http_listener(80, bind, ListenerKind::Ingress),
            ListenerPlan {
                name: "https.shadow".into(),
                gateway_port: tls_bind,
                bind_port: tls_bind,
                bind_address: None,
                kind: ListenerKind::Ingress,
                tls_chains: vec![TlsChainPlan {
                    // The wire server names no chain: the router finds it by SNI.
                    name: "shadow".into(),
                    server_names: vec![],
                    certificate_chain: PemSource::Inline(cert),
                    private_key: PemSource::Inline(key),
                    client_ca: None,
                    require_client_certificate: false,
                    settings: Default::default(),
                    tcp: None,
                }],
                passthrough: vec![],
                tcp: None,
            },
        ],
        clusters: vec![
            local_cluster("main", main),
            ClusterPlan {
                name: "recorder".into(),
                discovery: at("127.0.0.2", recorder_port),
                http2: false,
                tls: None,
            },
            ClusterPlan {
                name: "shadow".into(),
                discovery: at("127.0.0.2", relay_port),
                http2: false,
                tls: Some(UpstreamTlsPlan {
                    sni: "shadow.test".into(),
                    verify: Some(ServerVerification {
                        trusted_ca: PemSource::Inline(ca.pem()),
                        subject_alt_names: vec!["shadow.test".into()],
                        crl: None,
                    }),
                    client_certificate: None,
                }),
            },
        ],
    };
    let gw = start(wire, plan).await;

    // The main request is answered at once, long before the mirror's handshake can finish …
    let r = get("shop.example.com", "/slow")
        .header("x-trace", "answered-first")
        .send(bind)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream(), "main");
    // … and a client that goes away while its main request is still upstream.
    {
        let mut client = tokio::net::TcpStream::connect(("127.0.0.1", bind))
            .await
            .unwrap();
        client
            .write_all(b"GET /gone HTTP/1.1\r\nhost: shop.example.com\r\nx-trace: client-gone\r\nx-echo-delay-ms: 3000\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both copies still arrive, through the slow TLS hop.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let head = tokio::time::timeout(Duration::from_secs(5), heads.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the slow mirror got {seen:?} only\n{}",
                    gw.envoy_log_tail(30)
                )
            })
            .unwrap()
            .to_ascii_lowercase();
        let trace = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("x-trace: "))
            .unwrap_or("")
            .to_string();
        seen.push(trace);
    }
    seen.sort();
    assert_eq!(seen, ["answered-first", "client-gone"]);
    assert_eq!(
        gw.admin()
            .counter("cluster.shadow.upstream_rq_cancelled")
            .await
            .unwrap(),
        0
    );

    for task in tasks {
        task.abort();
    }
    finish(gw).await;
}
