//! E-1 through a real Envoy: which HTTP version the gateway speaks to an upstream. An HTTP/1.1
//! port's cluster speaks HTTP/1.1 unless a DestinationRule sets `connectionPool.http.
//! h2UpgradePolicy: UPGRADE`; then Envoy opens the connection with HTTP/2's preface (prior
//! knowledge, cleartext). The upstream here is a minimal server that answers either version
//! itself and records which one each connection spoke.

use std::sync::{Arc, Mutex};

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::compile::GatewayIdentity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol each accepted connection spoke: "h2" or "http/1.1".
type Seen = Arc<Mutex<Vec<&'static str>>>;

/// Answers one connection: 200 with an empty body, in whichever version the client speaks.
async fn answer(mut stream: TcpStream, seen: Seen) -> std::io::Result<()> {
    let mut head = vec![0u8; PREFACE.len()];
    stream.read_exact(&mut head).await?;
    if head != PREFACE {
        seen.lock().unwrap().push("http/1.1");
        // The rest of the request head, then the answer; one request per connection.
        let mut buf = head;
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        return stream.write_all(reply).await;
    }
    seen.lock().unwrap().push("h2");
    // Our SETTINGS (empty); then read frames until the client's request HEADERS, acknowledge
    // its SETTINGS on the way, and answer on the request's stream: HEADERS `:status: 200`
    // (HPACK static index 8) with END_HEADERS | END_STREAM.
    stream.write_all(&frame(0x4, 0, 0, &[])).await?;
    loop {
        let mut header = [0u8; 9];
        stream.read_exact(&mut header).await?;
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let (kind, flags) = (header[3], header[4]);
        let stream_id = u32::from_be_bytes([header[5] & 0x7f, header[6], header[7], header[8]]);
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).await?;
        match kind {
            0x4 if flags & 0x1 == 0 => stream.write_all(&frame(0x4, 0x1, 0, &[])).await?,
            0x1 => {
                stream
                    .write_all(&frame(0x1, 0x5, stream_id, &[0x88]))
                    .await?;
                // Let the client read the answer before the connection goes.
                let mut rest = [0u8; 1024];
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    stream.read(&mut rest),
                )
                .await;
                return Ok(());
            }
            _ => {}
        }
    }
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut out = length.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

async fn upstream(port: u16) -> Seen {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, recorded.clone()));
        }
    });
    seen
}

fn resources(bind: u16, upstream: u16, destination_rule: &str) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {bind}, name: http, protocol: HTTP}}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: v, namespace: default}}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route: [{{destination: {{host: app.demo.local, port: {{number: 80}}}}}}]
---{}{destination_rule}",
        local_service_entry("app", 80, "HTTP", upstream)
    )
}

async fn protocols_seen(destination_rule: &str) -> Vec<&'static str> {
    let (bind, port) = (free_port(), free_port());
    let seen = upstream(port).await;
    let (wire, plan) = compile_istio(
        &resources(bind, port, destination_rule),
        &GatewayIdentity::default(),
    );
    let gw = start_with(wire, plan, false).await;
    for _ in 0..3 {
        let r = get("app.example.com", "/").send(bind).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    finish(gw).await;
    let mut seen = seen.lock().unwrap().clone();
    seen.dedup();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_upgrade_policy_chooses_the_upstream_protocol() {
    assert_eq!(
        protocols_seen("").await,
        ["http/1.1"],
        "an HTTP port speaks HTTP/1.1"
    );
    let upgrade = "---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app, namespace: default}
spec:
  host: app.demo.local
  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}
";
    assert_eq!(
        protocols_seen(upgrade).await,
        ["h2"],
        "UPGRADE speaks HTTP/2"
    );
}
