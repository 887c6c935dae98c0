//! What a [`Host`](super::Host) is configured with: [`HostConfig`] and [`FailurePolicy`].

use std::collections::BTreeMap;

use crate::abi::{DEFAULT_MEMORY_LIMIT, LogLevel};
use crate::properties::gateway_preset;
use crate::routes::VirtualHost;

use super::Process;

/// What the host does once a VM has trapped (Envoy `failure_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Every request through the failed VM gets a 503.
    #[default]
    FailClosed,
    /// The filter is skipped.
    FailOpen,
    /// The failing request gets a 503; the next one runs on a fresh VM.
    FailReload,
}

/// Host configuration, set through [`HostBuilder`](super::HostBuilder).
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub vm_config: Vec<u8>,
    pub plugin_config: Vec<u8>,
    pub root_id: String,
    pub vm_id: String,
    pub plugin_name: String,
    pub workers: usize,
    pub failure_policy: FailurePolicy,
    pub clusters: Vec<String>,
    pub route_cluster_header: Option<String>,
    pub route_cluster: Option<String>,
    pub cluster_not_found_code: u32,
    pub buffer_limit: usize,
    pub env: Vec<(String, String)>,
    pub properties: BTreeMap<String, Vec<u8>>,
    pub log_level: LogLevel,
    pub memory_limit: usize,
    pub fuel_per_callback: u64,
    pub strict: Option<Vec<String>>,
    pub seed: u64,
    /// FAIL_RELOAD backoff before a failed VM is replaced (Envoy `ReloadConfig`, base 1 s).
    pub reload_backoff_ms: u64,
    /// Virtual hosts; when empty, `route_cluster_header`/`route_cluster` make a catch-all.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Envoy HCM `strip_any_host_port`.
    pub strip_any_host_port: bool,
    /// Also start the VM Envoy runs on the main thread (lifecycle and ticks, no streams).
    pub main_thread_vm: bool,
    /// Run inside another host's process (see [`Host::process`](super::Host::process)).
    pub process: Option<Process>,
    /// Keep a worker whose first `proxy_on_configure` returned false, and create streams on
    /// its root anyway. Envoy fails such a plugin instead; a filter must still never trap
    /// there (the SDK panics when a root returns no context), only refuse.
    pub serve_unconfigured: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            root_id: String::new(),
            vm_id: String::new(),
            plugin_name: "portcullis".to_string(),
            workers: 1,
            failure_policy: FailurePolicy::FailClosed,
            clusters: Vec::new(),
            route_cluster_header: None,
            route_cluster: None,
            cluster_not_found_code: 503,
            // Envoy's default per-connection buffer limit.
            buffer_limit: 1 << 20,
            env: Vec::new(),
            properties: gateway_preset()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            log_level: LogLevel::Trace,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            fuel_per_callback: 1 << 40,
            strict: None,
            seed: 0x5eed,
            reload_backoff_ms: 1000,
            virtual_hosts: Vec::new(),
            strip_any_host_port: false,
            main_thread_vm: false,
            process: None,
            serve_unconfigured: false,
        }
    }
}
