//! Portcullis's compile step: the Istio resources a user `kubectl apply`s, read from text, turned
//! into the filters' wire config, the Envoy plan and diagnostics; and `explain`, which runs the
//! filters' own decision over the result.
//!
//! Invariants: no I/O of any kind (no filesystem, network, process, clock or environment), no
//! async runtime, no Kubernetes client. The same input gives byte-identical output. The crate
//! builds for `wasm32-unknown-unknown`, so a browser runs exactly this code.

mod base64;
pub mod compile;
pub mod diagnostics;
pub mod explain;
pub mod istio;
pub mod load;
pub mod plan;
