//! Wasm filter configuration.

use crate::api::{
    AsyncDataSource, DataSource, Duration, FailurePolicy, HttpUri, PluginConfig, RemoteDataSource,
    StringValue, TypedConfig, VmConfig, Wasm,
};
use crate::delivery::WasmCode;

/// VM id of the router module.
pub(super) const ROUTER_VM: &str = "portcullis_router";
/// VM id of the egress-audit module: its HTTP and network roots share one VM per worker.
pub(super) const EGRESS_AUDIT_VM: &str = "portcullis_egress_audit";

/// The wasm `PluginConfig`.
///
/// `failure_policy: FAIL_RELOAD`: if the VM traps (a filter panic), Envoy fails the affected
/// requests closed and then reloads the VM with backoff, instead of staying dead (FAIL_CLOSED)
/// or skipping the filter (FAIL_OPEN). Skipping is never right here: without the router no
/// cluster is chosen (503 anyway) and without the audit filter egress would go unaudited.
pub(super) fn plugin_config(
    failure_policy: FailurePolicy,
    name: &str,
    root_id: &str,
    vm_id: &str,
    code: &WasmCode,
    wire_json: &str,
) -> PluginConfig {
    PluginConfig {
        name: name.into(),
        root_id: root_id.into(),
        vm_config: VmConfig {
            vm_id: vm_id.into(),
            runtime: "envoy.wasm.runtime.v8".into(),
            code: match code {
                WasmCode::Local(path) => {
                    AsyncDataSource::Local(DataSource::Filename(path.display().to_string()))
                }
                WasmCode::Inline(bytes) => {
                    AsyncDataSource::Local(DataSource::InlineBytes(bytes.clone()))
                }
                WasmCode::Remote {
                    url,
                    cluster,
                    sha256,
                } => AsyncDataSource::Remote(RemoteDataSource {
                    http_uri: HttpUri {
                        uri: url.clone(),
                        cluster: cluster.clone(),
                        timeout: Duration::from_secs(10),
                    },
                    sha256: sha256.clone(),
                }),
            },
        },
        configuration: TypedConfig::StringValue(StringValue {
            value: wire_json.into(),
        }),
        failure_policy,
    }
}

/// The typed config of an HTTP wasm filter.
pub(super) fn http_filter_config(
    failure_policy: FailurePolicy,
    name: &str,
    root_id: &str,
    vm_id: &str,
    code: &WasmCode,
    wire_json: &str,
) -> TypedConfig {
    TypedConfig::HttpWasm(Box::new(Wasm {
        config: plugin_config(failure_policy, name, root_id, vm_id, code, wire_json),
    }))
}

/// The typed config of the network wasm filter of TLS passthrough egress.
pub(super) fn network_filter_config(
    failure_policy: FailurePolicy,
    code: &WasmCode,
    wire_json: &str,
) -> TypedConfig {
    TypedConfig::NetworkWasm(Box::new(Wasm {
        config: plugin_config(
            failure_policy,
            super::EGRESS_AUDIT_TCP_FILTER,
            portcullis_core::contract::EGRESS_AUDIT_TCP_ROOT_ID,
            EGRESS_AUDIT_VM,
            code,
            wire_json,
        ),
    }))
}
