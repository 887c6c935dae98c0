//! The static bootstrap: node identity, admin, and where the dynamic resources are read from.

use std::path::Path;

use serde_json::{Value, json};

use super::RenderOptions;

/// Renders `bootstrap.json`. It depends only on the options, never on the plan, so it is
/// written once and Envoy never needs a restart for a configuration change.
pub fn render_bootstrap(opts: &RenderOptions) -> Value {
    let dir = &opts.config_dir;
    json!({
        // ECDS over files requires both node.id and node.cluster.
        "node": { "id": opts.node_id, "cluster": "portcullis" },
        "admin": {
            "address": { "socket_address": { "address": "127.0.0.1", "port_value": opts.admin_port } }
        },
        "dynamic_resources": {
            "lds_config": path_source(&dir.listeners_file()),
            "cds_config": path_source(&dir.clusters_file()),
        },
    })
}

/// A file-based config source that reloads when a file is renamed into its directory.
pub(super) fn path_source(file: &Path) -> Value {
    let dir = file.parent().unwrap_or(file);
    json!({
        "path_config_source": {
            "path": file.display().to_string(),
            "watched_directory": { "path": dir.display().to_string() },
        },
        "resource_api_version": "V3",
    })
}
