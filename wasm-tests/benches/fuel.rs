//! Wasm instructions (fuel) per request and linear memory per VM of the host filter and the
//! router at 10, 1 000 and 10 000 routes and hosts. Fuel is deterministic (wasmtime consumes
//! one unit per instruction, roughly), so this prints a table instead of timing anything.
//!
//! Run: `cargo bench -p portcullis-wasm-tests --bench fuel --profile dev`

use std::sync::Arc;

use anyhow::Result;
use portcullis_core::contract::{CLUSTER_HEADER, HOST_FILTER_ROOT_ID, ROUTER_ROOT_ID};
use portcullis_wasm_tests::{Host, WasmModule};
use serde_json::{Value, json};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// `n` exact server hosts and one catch-all virtual host with `n` prefix routes.
fn config(n: usize) -> Value {
    let hosts: Vec<String> = (0..n).map(|i| format!("h{i}.example.com")).collect();
    let routes: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("r{i}"), "match": {"uri": {"prefix": format!("/r{i}/")}},
                "action": {"route": {"destinations": [{"cluster": "outbound|80||app", "weight": 100}]}}})
        })
        .collect();
    json!({"version": 1, "configVersion": format!("sha256:bench{n}"),
        "listeners": [{"port": 80, "servers": [{"name": "ns/gw/http", "hosts": hosts}],
            "virtualHosts": [{"name": "all", "domains": ["*"], "routes": routes}]}]})
}

fn host(module: &Arc<WasmModule>, root_id: &str, config: &Value) -> Result<Host> {
    Host::builder(module)
        .plugin_config(config.to_string())
        .root_id(root_id)
        .property("destination.port", 80i64)
        .clusters(["outbound|80||app"])
        .route_cluster_header(CLUSTER_HEADER)
        .build()
}

/// Fuel of one full request (headers, upstream response, done, log), after a warm-up.
fn fuel(host: &mut Host, authority: &str, path: &str) -> Result<u64> {
    let mut last = 0;
    for _ in 0..3 {
        let mut s = host
            .http_request()
            .get(authority, path)
            .send_headers_only()?;
        if s.local_response().is_none() {
            s.respond_headers(200, &[], true);
        }
        last = s.finish().fuel;
    }
    Ok(last)
}

fn main() -> Result<()> {
    let router = WasmModule::package("portcullis-router")?;
    let host_filter = WasmModule::package("portcullis-host-filter")?;
    println!(
        "| routes = hosts | host filter: admitted | host filter: 404 | router: first route | router: last route | router: 404 (host) | router: 404 (no route) | memory per VM: host filter | memory per VM: router |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let config = config(n);
        let last_host = format!("h{}.example.com", n - 1);
        let mut hf = host(&host_filter, HOST_FILTER_ROOT_ID, &config)?;
        let hf_ok = fuel(&mut hf, &last_host, "/")?;
        let hf_404 = fuel(&mut hf, "nope.example.com", "/")?;
        let mut r = host(&router, ROUTER_ROOT_ID, &config)?;
        let first = fuel(&mut r, "h0.example.com", "/r0/x")?;
        let last = fuel(&mut r, &last_host, &format!("/r{}/x", n - 1))?;
        let host_404 = fuel(&mut r, "nope.example.com", "/r0/x")?;
        let route_404 = fuel(&mut r, &last_host, "/none")?;
        println!(
            "| {n} | {hf_ok} | {hf_404} | {first} | {last} | {host_404} | {route_404} | {} KiB | {} KiB |",
            hf.memory_high_water(0) / 1024,
            r.memory_high_water(0) / 1024
        );
    }
    Ok(())
}
