//! proxy-wasm plumbing shared by the Portcullis filters.
//!
//! Every host call goes through [`host`], which turns unexpected statuses into `None` or `Err`
//! instead of the SDK trait helpers' `unwrap()`: a panic would trap the VM and drop every
//! in-flight request of the worker.

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
