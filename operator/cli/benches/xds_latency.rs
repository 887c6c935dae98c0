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

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "support/latency.rs"]
mod latency;

use latency::free_port;

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

fn main() {
    // `cargo bench` passes `--bench`; nothing else is configurable here.
    let changes = latency::changes();
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

    let report = latency::run(listen, changes, |change| {
        write(&dir, "vs.yaml", &virtual_service(change));
    });
    let _ = Command::new("kill").arg(up.id().to_string()).status();
    let _ = up.wait();
    let _ = std::fs::remove_dir_all(&dir);
    report.print(
        &format!("xds latency: {changes} VirtualService edits under `portcullis up`"),
        "edit saved -> served",
    );
}
