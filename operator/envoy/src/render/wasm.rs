//! Wasm filter configuration, delivered by file-based ECDS.

use std::path::Path;

use serde_json::{Value, json};

use super::bootstrap::path_source;

const HTTP_WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const NETWORK_WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm";

/// The wasm `PluginConfig`. `vm_id` is per module, so the HTTP and network roots of the
/// egress-audit module share one VM per worker.
///
/// `failure_policy: FAIL_RELOAD`: if the VM traps (a filter panic), Envoy fails the affected
/// requests closed and then reloads the VM with backoff, instead of staying dead (FAIL_CLOSED)
/// or skipping the filter (FAIL_OPEN). Skipping is never right here: without the router no
/// cluster is chosen (503 anyway) and without the audit filter egress would go unaudited.
pub(super) fn plugin_config(name: &str, root_id: &str, module: &Path, wire_json: &str) -> Value {
    json!({
        "name": name,
        "root_id": root_id,
        "vm_config": {
            "vm_id": vm_id(module),
            "runtime": "envoy.wasm.runtime.v8",
            "code": { "local": { "filename": module.display().to_string() } },
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": wire_json,
        },
        "failure_policy": "FAIL_RELOAD",
    })
}

fn vm_id(module: &Path) -> String {
    let stem = module
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("portcullis");
    stem.to_string()
}

/// The typed config of an HTTP wasm filter.
pub(super) fn http_filter_config(name: &str, root_id: &str, module: &Path, wire: &str) -> Value {
    json!({ "@type": HTTP_WASM_TYPE, "config": plugin_config(name, root_id, module, wire) })
}

/// The ECDS DiscoveryResponse holding one TypedExtensionConfig.
pub(super) fn ecds_response(version: &str, name: &str, typed_config: Value) -> Value {
    json!({
        "version_info": version,
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": name,
            "typed_config": typed_config,
        }],
    })
}

/// The HCM entry of an ECDS-delivered HTTP wasm filter. Without a default config the listener
/// warms until the file has been read, so no request ever runs without the filter.
pub(super) fn http_filter_entry(name: &str, ecds_file: &Path) -> Value {
    json!({
        "name": name,
        "config_discovery": {
            "config_source": path_source(ecds_file),
            "type_urls": [HTTP_WASM_TYPE],
        },
    })
}

/// The network wasm filter of TLS passthrough egress. Inline (not ECDS): a wire change
/// rewrites the listener, which drains old connections gracefully.
pub(super) fn network_filter(module: &Path, wire_json: &str) -> Value {
    json!({
        "name": "envoy.filters.network.wasm",
        "typed_config": {
            "@type": NETWORK_WASM_TYPE,
            "config": plugin_config("portcullis.egress_audit_tcp", "egress_audit_tcp", module, wire_json),
        },
    })
}
