//! Rendering a compiled plan into Envoy configuration, and the order in which a change of
//! configuration is applied.
//!
//! - [`api`]: the subset of Envoy's v3 API Portcullis renders, as typed values;
//! - [`render()`] and [`render_bootstrap`]: plan + wire config + [`RenderOptions`] → a
//!   [`Snapshot`] of typed resources, and the bootstrap;
//! - [`delivery`]: how the configuration reaches Envoy (files or ADS; local or remote wasm
//!   code; inline or SDS TLS material), an input of rendering;
//! - [`rollout`]: the make-before-break order of a change, as a pure function.
//!
//! Invariants: pure (no I/O, no clock, no process); how the configuration reaches Envoy is an
//! input, never an assumption.

pub mod api;
mod config_dir;
pub mod delivery;
mod error;
#[cfg(feature = "proto")]
pub mod proto;
mod render;
pub mod rollout;
mod snapshot;

pub use config_dir::ConfigDir;
pub use delivery::{ConfigDelivery, TlsDelivery, WasmCode, WasmModules, XdsServer};
pub use error::{Error, Result};
pub use render::{
    BootstrapOptions, CLUSTER_HEADER, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER, ROUTER_FILTER,
    RenderOptions, SYSTEM_CA_BUNDLE, XDS_CLUSTER, render, render_bootstrap,
};
pub use snapshot::{
    Snapshot, clusters_response, filter_config_response, listeners_response, secret_response,
};
