//! The change-to-served harness both latency benchmarks share: four keep-alive clients keep
//! requesting while `apply` makes change after change; a change is served when a response
//! carries its number in `x-change`. Every request must succeed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients.
pub const CLIENTS: usize = 4;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `CHANGES` from the environment (default 50).
pub fn changes() -> u64 {
    std::env::var("CHANGES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(50)
}

/// One keep-alive HTTP/1.1 client; returns the `x-change` of each 200, or an error.
pub struct Client {
    pub port: u16,
    pub conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn get(&mut self) -> Result<Option<u64>, String> {
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

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Per change, from the call to `apply` to the first response carrying it, sorted.
    pub latencies: Vec<Duration>,
    /// Requests sent.
    pub requests: u64,
    /// Failed requests, with why.
    pub failures: Vec<String>,
}

/// Waits until change 0 serves on `port`, then runs `changes` changes through `apply`, each
/// 200 ms after the previous one was served (so each latency is its own, not time queued
/// behind the previous change).
pub fn run(port: u16, changes: u64, mut apply: impl FnMut(u64)) -> Report {
    let started = Instant::now();
    let mut probe = Client { port, conn: None };
    while probe.get() != Ok(Some(0)) {
        assert!(started.elapsed() < Duration::from_secs(60), "never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; changes as usize + 1]));
    let running = Arc::new(AtomicBool::new(true));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (running, requests, failures, seen_at) = (
                running.clone(),
                requests.clone(),
                failures.clone(),
                seen_at.clone(),
            );
            std::thread::spawn(move || {
                let mut client = Client { port, conn: None };
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
        let applied = Instant::now();
        apply(change);
        loop {
            if let Some(at) = seen_at.lock().unwrap()[change as usize] {
                latencies.push(at.saturating_duration_since(applied));
                break;
            }
            assert!(
                applied.elapsed() < Duration::from_secs(10),
                "change {change} never served"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    latencies.sort();
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    Report {
        latencies,
        requests: requests.load(Ordering::Relaxed),
        failures,
    }
}

impl Report {
    /// Prints `title` and the figures; exits 1 when a request failed.
    pub fn print(&self, title: &str, what: &str) {
        let l = &self.latencies;
        let pct = |p: f64| l[((l.len() as f64 * p).ceil() as usize).saturating_sub(1)];
        println!(
            "{title}, {CLIENTS} clients, {} requests, {} failed",
            self.requests,
            self.failures.len()
        );
        println!(
            "  {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            l[l.len() - 1].as_secs_f64() * 1e3
        );
        if !self.failures.is_empty() {
            println!(
                "  failures: {:?}",
                &self.failures[..self.failures.len().min(5)]
            );
            std::process::exit(1);
        }
    }
}
