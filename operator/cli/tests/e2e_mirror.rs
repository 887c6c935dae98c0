//! Traffic mirroring (V-24) through a real Envoy: the router filter answers the request from its
//! main upstream and sends a fire-and-forget copy to the mirror cluster, whose authority carries
//! Envoy's `-shadow` suffix. The mirror is served by a recording listener on 127.0.0.2 (outside
//! the demo upstreams, which serve 127.0.0.1), so the test sees exactly what the copy carried.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind};
use serde_json::json;
use support::http::get;
use support::*;
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
