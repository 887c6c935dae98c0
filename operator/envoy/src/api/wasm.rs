//! `envoy.extensions.wasm.v3` and the wasm filters.

use serde::Serialize;

use super::{AsyncDataSource, TypedConfig};

/// `filters.http.wasm.v3.Wasm` and `filters.network.wasm.v3.Wasm`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Wasm {
    /// The plugin.
    pub config: PluginConfig,
}

/// `wasm.v3.PluginConfig`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PluginConfig {
    /// Plugin name.
    pub name: String,
    /// The root context the plugin runs.
    pub root_id: String,
    /// The VM.
    pub vm_config: VmConfig,
    /// The plugin's configuration (a `StringValue` holding the wire JSON).
    pub configuration: TypedConfig,
    /// What Envoy does after the VM traps.
    pub failure_policy: FailurePolicy,
}

/// `wasm.v3.VmConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmConfig {
    /// Plugins with the same id and code share a VM per worker.
    pub vm_id: String,
    /// `envoy.wasm.runtime.v8`.
    pub runtime: String,
    /// The module.
    pub code: AsyncDataSource,
}

/// `wasm.v3.FailurePolicy`: what Envoy does with requests after the VM traps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum FailurePolicy {
    /// Fail requests while the VM is reloaded with backoff.
    #[default]
    #[serde(rename = "FAIL_RELOAD")]
    FailReload,
    /// Fail every request from then on (until the configuration changes).
    #[serde(rename = "FAIL_CLOSED")]
    FailClosed,
    /// Let requests through without the filter: no host filtering, no routing, no audit.
    #[serde(rename = "FAIL_OPEN")]
    FailOpen,
}
