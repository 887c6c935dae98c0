//! proxy-wasm plumbing shared by the Portcullis filters.
//!
//! Every host call goes through [`abi`] (the imports, declared with `u32` statuses) and
//! [`host`] (defaults for failures): no host status can panic, and a panic would trap the VM
//! and drop every in-flight request of the worker.

pub mod abi;
pub mod config;
pub mod host;
pub mod metrics;
pub mod request;
pub mod respond;
pub mod unconfigured;

pub use config::{ConfigMetrics, load_wire_config};
pub use metrics::{Counter, Gauge};
pub use request::{Reads, RequestData};
pub use unconfigured::Unconfigured;
