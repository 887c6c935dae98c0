//! [`HostBuilder`]: the fluent way to set a [`HostConfig`] and start a [`Host`].

use std::sync::Arc;

use anyhow::Result;

use crate::abi::LogLevel;
use crate::module::WasmModule;
use crate::properties::{PropertyValue, key_from_dotted};
use crate::routes::VirtualHost;

use super::{FailurePolicy, Host, HostConfig, Process};

/// Builds a [`Host`]: `Host::builder(&module).plugin_config(json).workers(2).build()?`.
#[derive(Debug)]
pub struct HostBuilder {
    module: Arc<WasmModule>,
    cfg: HostConfig,
}

impl HostBuilder {
    pub fn vm_config(mut self, c: impl Into<Vec<u8>>) -> Self {
        self.cfg.vm_config = c.into();
        self
    }
    pub fn plugin_config(mut self, c: impl Into<Vec<u8>>) -> Self {
        self.cfg.plugin_config = c.into();
        self
    }
    pub fn root_id(mut self, id: &str) -> Self {
        self.cfg.root_id = id.to_string();
        self
    }
    pub fn vm_id(mut self, id: &str) -> Self {
        self.cfg.vm_id = id.to_string();
        self
    }
    pub fn plugin_name(mut self, n: &str) -> Self {
        self.cfg.plugin_name = n.to_string();
        self
    }
    /// One VM per worker thread, as Envoy runs them.
    pub fn workers(mut self, n: usize) -> Self {
        self.cfg.workers = n.max(1);
        self
    }
    pub fn failure_policy(mut self, p: FailurePolicy) -> Self {
        self.cfg.failure_policy = p;
        self
    }
    /// The clusters Envoy knows (for callouts and routing).
    pub fn clusters<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.cfg
            .clusters
            .extend(names.into_iter().map(|s| s.as_ref().to_string()));
        self
    }
    /// The route's `cluster_header`.
    pub fn route_cluster_header(mut self, h: &str) -> Self {
        self.cfg.route_cluster_header = Some(h.to_ascii_lowercase());
        self
    }
    /// A static route cluster (used when no `cluster_header` is set).
    pub fn route_cluster(mut self, c: &str) -> Self {
        self.cfg.route_cluster = Some(c.to_string());
        self
    }
    /// Adds a virtual host to the route table (replaces the catch-all of
    /// `route_cluster_header`/`route_cluster`).
    pub fn virtual_host(mut self, v: VirtualHost) -> Self {
        self.cfg.virtual_hosts.push(v);
        self
    }
    /// Starts the main-thread VM too, as Envoy does (config parsed N+1 times).
    pub fn main_thread_vm(mut self, on: bool) -> Self {
        self.cfg.main_thread_vm = on;
        self
    }
    /// Creates streams on a root whose first configuration was refused (see
    /// [`HostConfig::serve_unconfigured`](super::HostConfig)).
    pub fn serve_unconfigured(mut self, on: bool) -> Self {
        self.cfg.serve_unconfigured = on;
        self
    }
    /// Envoy HCM `strip_any_host_port` for virtual-host matching.
    pub fn strip_any_host_port(mut self, on: bool) -> Self {
        self.cfg.strip_any_host_port = on;
        self
    }
    pub fn buffer_limit(mut self, bytes: usize) -> Self {
        self.cfg.buffer_limit = bytes;
        self
    }
    /// `vm_config.environment_variables`: what WASI `environ_get` returns.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cfg.env.push((k.to_string(), v.to_string()));
        self
    }
    /// Sets a property by dotted path (`source.address`).
    pub fn property(mut self, path: &str, v: impl Into<PropertyValue>) -> Self {
        self.cfg
            .properties
            .insert(key_from_dotted(path), v.into().0);
        self
    }
    /// Removes every preset property.
    pub fn no_property_preset(mut self) -> Self {
        self.cfg.properties.clear();
        self
    }
    pub fn log_level(mut self, l: LogLevel) -> Self {
        self.cfg.log_level = l;
        self
    }
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.cfg.memory_limit = bytes;
        self
    }
    /// Fuel (≈ wasm instructions) allowed per callback; running out traps.
    pub fn fuel_per_callback(mut self, fuel: u64) -> Self {
        self.cfg.fuel_per_callback = fuel;
        self
    }
    /// Strict mode: any host call outside `allowed` traps and is recorded as a violation.
    pub fn strict<S: AsRef<str>>(mut self, allowed: impl IntoIterator<Item = S>) -> Self {
        self.cfg.strict = Some(
            allowed
                .into_iter()
                .map(|s| s.as_ref().to_string())
                .collect(),
        );
        self
    }
    /// FAIL_RELOAD backoff on the virtual clock (default 1000 ms, Envoy's base interval).
    pub fn reload_backoff_ms(mut self, ms: u64) -> Self {
        self.cfg.reload_backoff_ms = ms;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }
    /// Runs this plugin in the same Envoy process as another host: shared data and queues
    /// are shared with it by `vm_id`; clusters, metrics and the clock are process-wide.
    pub fn process(mut self, p: &Process) -> Self {
        self.cfg.process = Some(p.clone());
        self
    }
    /// Starts every worker VM: `_initialize`, then for the root context
    /// `on_context_create(root, 0)`, `on_vm_start`, `on_configure`.
    pub fn build(self) -> Result<Host> {
        Host::new(self.module, self.cfg)
    }
}

// === impl Host ===

impl Host {
    pub fn builder(module: &Arc<WasmModule>) -> HostBuilder {
        HostBuilder {
            module: module.clone(),
            cfg: HostConfig::default(),
        }
    }
}
