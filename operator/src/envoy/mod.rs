//! Envoy: render an [`EnvoyPlan`](crate::plan::EnvoyPlan) into configuration files, find or
//! install the Envoy binary, and run it.
//!
//! Layout on disk (one directory per xDS resource so that a rename in one directory only wakes
//! the subscription that owns it; Envoy's `watched_directory` reloads on any move into the dir):
//!
//! ```text
//! <config dir>/bootstrap.json
//! <config dir>/lds/lds.json                    listeners (LDS DiscoveryResponse)
//! <config dir>/cds/cds.json                    clusters  (CDS DiscoveryResponse)
//! <config dir>/ecds-router/router.json         router wasm filter config (ECDS)
//! <config dir>/ecds-egress-audit/audit.json    egress-audit wasm filter config (ECDS)
//! ```

mod error;
mod files;
mod install;
mod process;
mod render;

pub use error::{Error, Result};
pub use files::{ConfigDir, write_atomically};
pub use install::{EnvoyBinary, find_or_install_envoy, workspace_target_dir};
pub use process::{Admin, EnvoyProcess, EnvoyProcessOptions};
pub use render::{
    CLUSTER_HEADER, EGRESS_AUDIT_FILTER, ROUTER_FILTER, RenderOptions, Resources, WasmModules,
    render_bootstrap, render_resources,
};
