//! Rendering a compiled plan into Envoy configuration.
//!
//! Invariants: pure (no I/O, no clock, no process); how the configuration reaches Envoy is an
//! input, never an assumption.

mod config_dir;
mod error;
mod render;

pub use config_dir::ConfigDir;
pub use error::{Error, Result};
pub use render::{
    CLUSTER_HEADER, EGRESS_AUDIT_FILTER, ROUTER_FILTER, RenderOptions, Resources, WasmModules,
    render_bootstrap, render_resources,
};
