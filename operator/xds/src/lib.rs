//! Portcullis's xDS server: the compiled configuration delivered to each gateway Envoy over
//! one aggregated gRPC stream (ADS), step by step in make-before-break order, each step
//! confirmed by that proxy's ACK; a NACK rolls the proxy back to its last good configuration.
//!
//! - [`XdsServer`]: inputs are published to it; it compiles and renders them once per gateway
//!   workload ([`catalog`]) and serves ADS plus HTTP endpoints (`/healthz`, `/readyz`,
//!   `/metrics`, `/status`, `/modules/<sha256>`) on one port;
//! - [`session`]: one proxy's stream as a pure state machine;
//! - [`identity`]: who a proxy is (node id, gateway labels and namespace from node metadata);
//! - [`status`]: what each proxy runs, its last refusal.

pub mod catalog;
mod http;
pub mod identity;
pub mod metrics;
pub mod resource;
mod server;
mod service;
pub mod session;
pub mod status;

pub use catalog::{
    Compiled, Counts, Inputs, Module, ModuleSource, ProxyDefaults, WorkloadSettings, compile_for,
};
pub use server::{Error, XdsServer};
pub use status::{Nack, ProxyStatus};
