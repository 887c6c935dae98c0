//! End-to-end tests: the built filters in a real Envoy on 127.0.0.1 ports, driven through the
//! library, the `portcullis` binary or the xDS server. One test binary for all of them, so the
//! dependency graph is linked once rather than once per file; the harness runs them in parallel
//! (each test owns its ports and state directory). `cargo xtask test` sets `PORTCULLIS_ENVOY` and
//! `PORTCULLIS_WASM_DIR`; one file runs alone with `cargo test -p portcullis --test e2e sni::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step fails the test"
)]

mod support;

mod bind;
mod churn;
mod cluster;
mod collector;
mod collector_faults;
mod config_map;
mod connection_manager;
mod controller;
mod dns;
mod egress;
mod examples;
mod file_certs;
mod h2_upstream;
mod host_parity;
mod https;
mod istio_docs;
mod mirror;
mod mtls;
mod partial;
mod passthrough;
mod reload;
mod relocated;
mod retries;
mod routing;
mod scheme;
mod seed;
mod sni;
mod tcp;
mod up;
mod upstream_tls;
mod vm_trap;
mod xds;
