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

use std::process::{Command, Stdio};

use portcullis_kube_fake::FakeApi;
use serde_json::json;

#[path = "support/latency.rs"]
mod latency;

use latency::free_port;

const ISTIO: &str = "networking.istio.io/v1";

fn virtual_service(change: u64) -> serde_json::Value {
    json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {"hosts": ["dev.example.com"], "gateways": ["gw"],
                 "http": [{"headers": {"response": {"set": {"x-change": change.to_string()}}},
                           "route": [{"destination": {"host": "up.demo.local"}}]}]}
    })
}

fn main() {
    let changes = latency::changes();
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

    let report = latency::run(listen, changes, |change| {
        api.apply("virtualservices", virtual_service(change))
            .unwrap();
    });
    let _ = envoy.kill();
    let _ = envoy.wait();
    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&dir);
    report.print(
        &format!("controller latency: {changes} VirtualService changes through the API"),
        "API write -> served",
    );
}
