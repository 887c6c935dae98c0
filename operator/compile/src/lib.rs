//! Portcullis's compile step: the Istio resources a user `kubectl apply`s, read from text, turned
//! into the filters' wire config, the Envoy plan and diagnostics; and `explain`, which runs the
//! filters' own decision over the result.
//!
//! Invariants: no I/O of any kind (no filesystem, network, process, clock or environment), no
//! async runtime, no Kubernetes client. The same input gives byte-identical output. The crate
//! builds for `wasm32-unknown-unknown`, so a browser runs exactly this code.
//!
//! The API, in the order a caller uses it:
//! - [`load::load_str`]: YAML text → [`load::Loaded`] (the [`istio`] resources, each with its
//!   file and field locations, and the loader's diagnostics);
//! - [`compile::compile`] for a [`compile::GatewayIdentity`] with [`compile::CompileOptions`] →
//!   [`compile::CompileOutput`]: the filters' wire config, the [`plan::EnvoyPlan`] and located
//!   [`diagnostics::Diagnostic`]s;
//! - [`explain::explain`]: what the gateway does with one request, as data
//!   ([`explain::Explanation`]), with [`explain::text::render`] for a terminal.
//!
//! Everything else is private; `unreachable_pub` keeps it that way.

#![warn(unreachable_pub)]

pub mod admission;
mod base64;
pub mod compile;
pub mod diagnostics;
pub mod explain;
pub mod istio;
pub mod load;
pub mod plan;
