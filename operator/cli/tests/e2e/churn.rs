//! Configuration churn under concurrent load through a real Envoy: 100 changes while HTTP/1.1
//! and HTTP/2 clients send requests on several connections, with a change Envoy refuses in the
//! middle of the rollout. Every request must be answered 200 and routed by one whole
//! configuration: the generation its response header names must be the one whose destination
//! answered, never a route of one configuration with the headers of another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::http::get;
use crate::support::*;
use portcullis::local::Compiled;

const CHANGES: u32 = 100;
/// The change Envoy refuses (an invalid regex), applied after this generation.
const REFUSED_AFTER: u32 = 50;

/// Generation `n`: reload's dev.example.com config routed to `blue` for even `n`, `green` for
/// odd, its route setting `x-generation: n` on the response. `regex` makes a config the router
/// refuses when invalid.
fn generation(bind: u16, ports: (u16, u16), n: u32, regex: &str) -> Compiled {
    let clusters = [("blue", ports.0), ("green", ports.1)];
    let mut c = crate::reload::compiled(bind, destination(n), &clusters, regex, &format!("g{n}"));
    c.wire.listeners[0].virtual_hosts[0].routes[1]
        .headers
        .response
        .set
        .insert("x-generation".into(), n.to_string());
    c
}

fn destination(generation: u32) -> &'static str {
    if generation.is_multiple_of(2) {
        "blue"
    } else {
        "green"
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    /// Each answer that was not a 200 from the destination its generation names.
    failures: Vec<String>,
    /// The highest generation seen.
    latest: u32,
}

impl Seen {
    fn check(&mut self, status: u16, generation: Option<&str>, upstream: &str) {
        self.requests += 1;
        let n = generation.and_then(|g| g.parse::<u32>().ok());
        match n {
            Some(n) if status == 200 && upstream == destination(n) => {
                self.latest = self.latest.max(n);
            }
            _ => self.failures.push(format!(
                "{status} generation {generation:?} from upstream {upstream:?}"
            )),
        }
    }
}

/// An HTTP/1.1 client: one request per connection, back to back.
fn http1_client(bind: u16, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            match get("dev.example.com", "/").try_send(bind).await {
                Ok(r) => seen.check(r.status, r.header("x-generation"), &r.upstream()),
                Err(e) => {
                    seen.requests += 1;
                    seen.failures.push(e.to_string());
                }
            }
        }
        seen
    })
}

/// An HTTP/2 client (cleartext, prior knowledge): `BATCH` requests over one connection, one
/// after another, then the next connection.
fn http2_client(bind: u16, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Seen> {
    const BATCH: usize = 25;
    tokio::spawn(async move {
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = http2_batch(bind, BATCH, &mut seen).await {
                seen.requests += 1;
                seen.failures.push(format!("HTTP/2: {e}"));
            }
        }
        seen
    })
}

async fn http2_batch(
    bind: u16,
    requests: usize,
    seen: &mut Seen,
) -> Result<(), Box<dyn std::error::Error>> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", bind)).await?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(connection);
    for _ in 0..requests {
        let request = hyper::Request::get("http://dev.example.com/")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let generation = response
            .headers()
            .get("x-generation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await?.to_bytes();
        let upstream = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["upstream"].as_str().map(str::to_string))
            .unwrap_or_default();
        seen.check(status, generation.as_deref(), &upstream);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_changes_under_http1_and_http2_load_fail_no_request() {
    let (bind, blue, green) = (free_port(), free_port(), free_port());
    let ports = (blue, green);
    let first = generation(bind, ports, 0, "/ping");
    let mut gw = start(first.wire, first.plan).await;

    let stop = Arc::new(AtomicBool::new(false));
    let h1: Vec<_> = (0..3).map(|_| http1_client(bind, stop.clone())).collect();
    let h2: Vec<_> = (0..2).map(|_| http2_client(bind, stop.clone())).collect();

    let mut applied = Vec::new();
    let started = std::time::Instant::now();
    for n in 1..=CHANGES {
        let report = gw.apply(generation(bind, ports, n, "/ping")).await.unwrap();
        applied.push(report.elapsed);
        if n == REFUSED_AFTER {
            // A change the router refuses, mid-rollout: the generation before it keeps
            // serving as a whole, routes and headers alike.
            let err = gw
                .apply(generation(bind, ports, 999, "(unclosed"))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("invalid regex"), "{err}");
            assert_eq!(gw.current().wire.config_version, format!("g{n}"));
            for _ in 0..20 {
                let r = get("dev.example.com", "/").send(bind).await;
                assert_eq!(
                    (r.status, r.header("x-generation"), r.upstream().as_str()),
                    (200, Some(n.to_string().as_str()), destination(n)),
                    "after the refused change"
                );
            }
        }
        // Let the clients see each generation.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rollout = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);

    let (mut requests, mut failures, mut per_protocol) = (0, Vec::new(), Vec::new());
    for (protocol, clients) in [("HTTP/1.1", h1), ("HTTP/2", h2)] {
        let mut sent = 0;
        for client in clients {
            let seen = client.await.unwrap();
            assert_eq!(
                seen.latest, CHANGES,
                "{protocol} client saw the last generation"
            );
            sent += seen.requests;
            failures.extend(seen.failures);
        }
        per_protocol.push(format!("{sent} over {protocol}"));
        requests += sent;
    }
    assert!(
        failures.is_empty(),
        "{} of {requests} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(requests > 500, "only {requests} requests");
    applied.sort();
    eprintln!(
        "churn: {CHANGES} changes + 1 refused in {rollout:.1?}, {requests} requests ({}), \
         0 failed, none mixed; apply median {:?}, max {:?}",
        per_protocol.join(", "),
        applied[applied.len() / 2],
        applied[applied.len() - 1]
    );
    finish(gw).await;
}
