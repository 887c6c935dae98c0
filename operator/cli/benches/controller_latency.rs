//! Change-to-served latency through `portcullis controller`: a VirtualService is written to
//! the Kubernetes API (an in-process stand-in with list and watch), and the clock stops when a
//! response through a real Envoy bootstrapped to the controller carries the change. Four
//! clients keep requests going throughout; every request must succeed. Run through
//! `bench/controller-latency.sh`; results go to BENCHMARKS.md.
//!
//! `CHANGES` (default 50) changes, each 200 ms after the previous one was served.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a broken setup should stop it"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_kube_fake::FakeApi;
use serde_json::json;

const CLIENTS: usize = 4;
const ISTIO: &str = "networking.istio.io/v1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn virtual_service(change: u64) -> serde_json::Value {
    json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {"hosts": ["dev.example.com"], "gateways": ["gw"],
                 "http": [{"headers": {"response": {"set": {"x-change": change.to_string()}}},
                           "route": [{"destination": {"host": "up.demo.local"}}]}]}
    })
}

/// One keep-alive HTTP/1.1 client; returns the `x-change` of each 200, or an error.
struct Client {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn get(&mut self) -> Result<Option<u64>, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().unwrap();
        conn.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: dev.example.com\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut status = String::new();
        conn.read_line(&mut status).map_err(|e| e.to_string())?;
        let (mut length, mut change, mut close) = (0usize, None, false);
        loop {
            let mut line = String::new();
            conn.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = lower.strip_prefix("x-change:") {
                change = v.trim().parse().ok();
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body).map_err(|e| e.to_string())?;
        if close {
            self.conn = None;
        }
        if !status.starts_with("HTTP/1.1 200") {
            return Err(status.trim().to_string());
        }
        Ok(change)
    }
}

fn main() {
    let changes: u64 = std::env::var("CHANGES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(50);
    let envoy = std::env::var("PORTCULLIS_ENVOY").expect("PORTCULLIS_ENVOY");
    let dir = std::env::temp_dir().join(format!(
        "portcullis-controller-latency-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = FakeApi::default();
    let (address, upstream) = runtime.block_on(async {
        let address = api.serve().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap().port();
        tokio::spawn(portcullis::local::demo::serve(listener, "up".to_string()));
        (address, upstream)
    });
    let listen = free_port();
    api.apply(
        "gateways",
        json!({
            "apiVersion": ISTIO, "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": listen, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["dev.example.com"]}]}
        }),
    )
    .unwrap();
    api.apply("serviceentries", json!({
        "apiVersion": ISTIO, "kind": "ServiceEntry",
        "metadata": {"name": "up", "namespace": "default"},
        "spec": {"hosts": ["up.demo.local"], "location": "MESH_INTERNAL", "resolution": "STATIC",
                 "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                 "endpoints": [{"address": "127.0.0.1", "ports": {"http": upstream}}]}
    })).unwrap();
    api.apply("virtualservices", virtual_service(0)).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, FakeApi::kubeconfig(address)).unwrap();

    let xds = free_port();
    let mut controller = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["controller", "--listen", &format!("127.0.0.1:{xds}")])
        .args(["--bind-address", "127.0.0.1", "--access-log", ""])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("portcullis controller");
    let bootstrap = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["bootstrap", "--xds-address", &format!("127.0.0.1:{xds}")])
        .args([
            "--node-id",
            "bench-0",
            "--admin-port",
            &free_port().to_string(),
        ])
        .args([
            "--gateway-labels",
            "istio=ingressgateway",
            "--gateway-namespace",
            "default",
        ])
        .output()
        .unwrap();
    assert!(bootstrap.status.success());
    std::fs::write(dir.join("bootstrap.json"), &bootstrap.stdout).unwrap();
    let mut envoy = Command::new(envoy)
        .arg("-c")
        .arg(dir.join("bootstrap.json"))
        .args([
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--log-level",
            "error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("envoy");

    let latest = Arc::new(AtomicU64::new(0));
    let seen_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; changes as usize + 1]));
    let running = Arc::new(AtomicBool::new(true));
    let (requests, failures) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );

    let started = Instant::now();
    let mut probe = Client {
        port: listen,
        conn: None,
    };
    while probe.get() != Ok(Some(0)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the controller never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (running, requests, failures, seen_at, latest) = (
                running.clone(),
                requests.clone(),
                failures.clone(),
                seen_at.clone(),
                latest.clone(),
            );
            std::thread::spawn(move || {
                let mut client = Client {
                    port: listen,
                    conn: None,
                };
                while running.load(Ordering::Relaxed) {
                    requests.fetch_add(1, Ordering::Relaxed);
                    match client.get() {
                        Ok(Some(change)) => {
                            let mut seen = seen_at.lock().unwrap();
                            if let Some(slot) = seen.get_mut(change as usize)
                                && slot.is_none()
                            {
                                *slot = Some(Instant::now());
                            }
                            let _ = latest.fetch_max(change, Ordering::Relaxed);
                        }
                        Ok(None) => failures.lock().unwrap().push("no x-change".to_string()),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();

    let mut latencies = Vec::new();
    for change in 1..=changes {
        std::thread::sleep(Duration::from_millis(200));
        let written = Instant::now();
        api.apply("virtualservices", virtual_service(change))
            .unwrap();
        loop {
            if let Some(at) = seen_at.lock().unwrap()[change as usize] {
                latencies.push(at.saturating_duration_since(written));
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "change {change} never served"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let _ = envoy.kill();
    let _ = envoy.wait();
    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&dir);

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let failures = failures.lock().unwrap();
    println!(
        "controller latency: {changes} VirtualService changes through the API, {CLIENTS} clients, \
         {} requests, {} failed",
        requests.load(Ordering::Relaxed),
        failures.len()
    );
    println!(
        "  API write -> served: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
    if !failures.is_empty() {
        println!("  failures: {:?}", &failures[..failures.len().min(5)]);
        std::process::exit(1);
    }
}
