//! Change-to-served latency under `portcullis up`: a VirtualService edit is saved, and the
//! clock stops when a response carries the edit. Four clients keep requests going throughout;
//! every request must succeed. Run through `bench/xds-latency.sh` (it builds the modules and
//! finds Envoy); results go to BENCHMARKS.md.
//!
//! `CHANGES` (default 50) edits, each 200 ms after the previous one was served, so each edit's
//! latency is its own, not time spent queued behind the previous apply.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a broken setup should stop it"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn resources(upstream: u16) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [dev.example.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: up, namespace: default}}
spec:
  hosts: [up.demo.local]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream}}}}}]
"
    )
}

fn virtual_service(change: u64) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: dev, namespace: default}}
spec:
  hosts: [dev.example.com]
  gateways: [gw]
  http:
  - headers: {{response: {{set: {{x-change: '{change}'}}}}}}
    route: [{{destination: {{host: up.demo.local}}}}]
"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
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
    // `cargo bench` passes `--bench`; nothing else is configurable here.
    let changes: u64 = std::env::var("CHANGES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(50);
    let dir = std::env::temp_dir().join(format!("portcullis-xds-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (listen, upstream, admin) = (free_port(), free_port(), free_port());
    write(&dir, "resources.yaml", &resources(upstream));
    write(&dir, "vs.yaml", &virtual_service(0));
    let mut up = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("up")
        .arg("-f")
        .arg(&dir)
        .args(["--port-offset", &(listen - 80).to_string()])
        .args(["--admin-port", &admin.to_string(), "--xds-port", "0"])
        .args(["--demo-upstreams", "--no-access-log", "--state-dir"])
        .arg(dir.join(".state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("portcullis up");

    let latest = Arc::new(AtomicU64::new(0));
    let seen_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; changes as usize + 1]));
    let running = Arc::new(AtomicBool::new(true));
    let (requests, failures) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );

    // Wait until the first configuration serves.
    let started = Instant::now();
    let mut probe = Client {
        port: listen,
        conn: None,
    };
    while probe.get() != Ok(Some(0)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "up never served"
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
        write(&dir, "vs.yaml", &virtual_service(change));
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
    let _ = Command::new("kill").arg(up.id().to_string()).status();
    let _ = up.wait();
    let _ = std::fs::remove_dir_all(&dir);

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let failures = failures.lock().unwrap();
    println!(
        "xds latency: {changes} VirtualService edits under `portcullis up`, {CLIENTS} clients, \
         {} requests, {} failed",
        requests.load(Ordering::Relaxed),
        failures.len()
    );
    println!(
        "  edit saved -> served: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
    if !failures.is_empty() {
        println!("  failures: {:?}", &failures[..failures.len().min(5)]);
        std::process::exit(1);
    }
}
