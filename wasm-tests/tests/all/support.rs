//! Shared helpers: the probe module, probe hosts, and reading the probe's result lines.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers in test files fail the test loudly"
)]

use std::sync::Arc;

use portcullis_wasm_tests::{Host, HostBuilder, WasmModule};
use serde_json::Value;

/// The probe, built for wasm32-wasip1 and compiled once per test binary.
pub fn probe() -> Arc<WasmModule> {
    match WasmModule::package("portcullis-wasm-probe") {
        Ok(m) => m,
        Err(e) => panic!("cannot build/load the probe: {e:#}"),
    }
}

/// A host builder for the probe with `config` as plugin configuration.
pub fn probe_builder(config: Value) -> HostBuilder {
    Host::builder(&probe())
        .plugin_config(config.to_string())
        .root_id("probe")
        .vm_id("probe-vm")
}

/// A one-worker probe host.
pub fn probe_host(config: Value) -> Host {
    probe_builder(config)
        .build()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Every `probe {...}` line, parsed.
pub fn results(host: &Host) -> Vec<Value> {
    host.logs()
        .iter()
        .filter_map(|l| l.message.strip_prefix("probe "))
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

/// Results of `op` in callback `cb`, in order.
pub fn results_of(host: &Host, cb: &str, op: &str) -> Vec<Value> {
    results(host)
        .into_iter()
        .filter(|r| r["cb"] == cb && r["op"] == op)
        .collect()
}

/// The first result of `op` in `cb`; fails with the host's recorded interaction.
pub fn result(host: &Host, cb: &str, op: &str) -> Value {
    match results_of(host, cb, op).into_iter().next() {
        Some(r) => r,
        None => panic!("no result for {op} in {cb}; host: {host:#?}"),
    }
}

/// The status code of the first `op` in `cb`.
pub fn status(host: &Host, cb: &str, op: &str) -> u64 {
    result(host, cb, op)["status"].as_u64().unwrap_or(u64::MAX)
}

/// Names of the callbacks the probe saw, in order.
pub fn callbacks(host: &Host) -> Vec<String> {
    results(host)
        .into_iter()
        .filter(|r| r["op"] == "callback")
        .filter_map(|r| r["cb"].as_str().map(str::to_string))
        .collect()
}

pub const NOT_FOUND: u64 = 1;
pub const BAD_ARGUMENT: u64 = 2;
pub const PARSE_FAILURE: u64 = 4;
pub const EMPTY: u64 = 7;
pub const CAS_MISMATCH: u64 = 8;

/// Map types.
pub const REQ_H: u64 = 0;
pub const REQ_T: u64 = 1;
pub const RESP_H: u64 = 2;
