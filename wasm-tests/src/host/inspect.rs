//! Read-only accessors on a [`Host`]: logs, trace, metrics, callouts, shared state,
//! per-worker VM figures, stream records and the readable [`Host::report`].

use std::sync::Arc;

use crate::abi::LogLevel;
use crate::module::WasmModule;
use crate::properties::key_from_dotted;
use crate::records::*;
use crate::state::lock;
use crate::vm::CallbackCost;

use super::{Host, Process, StreamId, StreamRecord};

/// Metrics by name, as the test reads them.
#[derive(Debug, Clone)]
pub struct Metrics(pub Vec<Metric>);

impl Metrics {
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.0.iter().find(|m| m.name == name)
    }
    pub fn counter(&self, name: &str) -> Option<i64> {
        self.0
            .iter()
            .find(|m| m.name == name && m.kind == MetricKind::Counter)
            .map(|m| m.value)
    }
    pub fn gauge(&self, name: &str) -> Option<i64> {
        self.0
            .iter()
            .find(|m| m.name == name && m.kind == MetricKind::Gauge)
            .map(|m| m.value)
    }
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.0
            .iter()
            .find(|m| m.name == name && m.kind == MetricKind::Histogram)
            .map(|m| m.samples.clone())
    }
}

// === impl Host ===

impl Host {
    /// The module this host runs.
    pub fn module(&self) -> &Arc<WasmModule> {
        &self.module
    }
    /// Worker VMs that serve streams (the main-thread VM is not one of them).
    pub fn workers(&self) -> usize {
        self.cfg.workers
    }
    /// Index of the main-thread VM, when enabled: usable with the per-worker accessors.
    pub fn main_thread_vm(&self) -> Option<usize> {
        self.cfg.main_thread_vm.then_some(self.cfg.workers)
    }
    /// Log lines, all workers, in order.
    pub fn logs(&self) -> Vec<LogEntry> {
        lock(&self.world).logs.clone()
    }
    /// Just the messages.
    pub fn log_messages(&self) -> Vec<String> {
        lock(&self.world)
            .logs
            .iter()
            .map(|l| l.message.clone())
            .collect()
    }
    pub fn clear_logs(&self) {
        lock(&self.world).logs.clear();
    }
    /// Changes the log level at runtime (no callback, as in Envoy).
    pub fn set_log_level(&self, level: LogLevel) {
        lock(&self.world).log_level = level;
    }
    /// Every host call made so far.
    pub fn trace(&self) -> Vec<HostCall> {
        lock(&self.world).trace.clone()
    }
    pub fn failures(&self) -> Vec<VmFailure> {
        lock(&self.world).failures.clone()
    }
    pub fn strict_violations(&self) -> Vec<String> {
        lock(&self.world).violations.clone()
    }
    pub fn metrics(&self) -> Metrics {
        Metrics(lock(&self.world).metrics.clone())
    }
    /// HTTP callouts not yet answered, timed out or cancelled.
    pub fn pending_callouts(&self) -> Vec<HttpCallout> {
        let id = self.host_id;
        lock(&self.world)
            .callouts
            .values()
            .filter(|c| c.host == id)
            .cloned()
            .collect()
    }
    pub fn grpc_callouts(&self) -> Vec<GrpcCallout> {
        let id = self.host_id;
        lock(&self.world)
            .grpc
            .values()
            .filter(|g| g.host == id)
            .cloned()
            .collect()
    }
    pub fn route_cache_clears(&self) -> Vec<RouteCacheClear> {
        let id = self.host_id;
        lock(&self.world)
            .route_clears
            .iter()
            .filter(|c| c.host == id)
            .cloned()
            .collect()
    }
    pub fn foreign_calls(&self) -> Vec<ForeignCall> {
        let id = self.host_id;
        lock(&self.world)
            .foreign_calls
            .iter()
            .filter(|c| c.host == id)
            .cloned()
            .collect()
    }
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        lock(&self.world)
            .shared_data
            .get(&(self.cfg.vm_id.clone(), key.to_string()))
            .cloned()
    }
    /// Sets shared data from outside (as another plugin on the same `vm_id` would).
    pub fn set_shared_data(&self, key: &str, value: &[u8]) {
        let mut w = lock(&self.world);
        w.next_cas = w.next_cas.wrapping_add(1).max(1);
        let cas = w.next_cas;
        w.shared_data.insert(
            (self.cfg.vm_id.clone(), key.to_string()),
            (value.to_vec(), cas),
        );
    }
    /// Items waiting in a queue of this host's `vm_id`.
    pub fn queue_len(&self, name: &str) -> Option<usize> {
        let w = lock(&self.world);
        w.queues
            .iter()
            .find(|q| q.vm_id == self.cfg.vm_id && q.name == name)
            .map(|q| q.items.len())
    }
    /// A property as the test set it or a filter wrote it with `set_envoy_filter_state`.
    pub fn property(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.world)
            .properties
            .get(&key_from_dotted(path))
            .cloned()
    }
    /// Filter state set through the `set_envoy_filter_state` foreign function.
    pub fn filter_state(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.world)
            .properties
            .get(&format!("filter_state\0{key}"))
            .cloned()
    }
    /// Virtual time elapsed since start, in ms.
    pub fn now_ms(&self) -> u64 {
        lock(&self.world).now_ms()
    }
    /// Tick period (ms) of the current root context of `worker`.
    pub fn tick_period(&self, worker: usize) -> Option<u64> {
        let root = self.roots[worker];
        self.vms[worker].store.data().ticks.get(&root).map(|t| t.0)
    }
    /// Linear-memory high-water mark (bytes) of a worker's VM.
    pub fn memory_high_water(&self, worker: usize) -> usize {
        self.vms[worker].memory_high_water
    }
    /// Current linear-memory size (bytes) of a worker's VM.
    pub fn memory_size(&self, worker: usize) -> usize {
        self.vms[worker].memory_size()
    }
    /// Fuel spent by every callback of a worker's VM, in call order.
    pub fn callback_costs(&self, worker: usize) -> Vec<CallbackCost> {
        self.vms[worker].costs.clone()
    }
    /// Whether a worker's VM has trapped.
    pub fn vm_failed(&self, worker: usize) -> Option<String> {
        self.vms[worker].failed.clone()
    }
    /// The root context id currently serving new streams on `worker`.
    pub fn root_context(&self, worker: usize) -> u32 {
        self.roots[worker]
    }
    /// The last `on_configure` result per worker.
    pub fn configured(&self) -> Vec<bool> {
        self.configure_results.clone()
    }
    /// Every HTTP stream record, finished or not.
    pub fn streams(&self) -> Vec<StreamRecord> {
        self.streams.values().cloned().collect()
    }
    pub fn stream(&self, id: StreamId) -> Option<StreamRecord> {
        let mut rec = self.streams.get(&id)?.clone();
        if let Some(s) = self
            .vms
            .get(id.worker)
            .and_then(|v| v.store.data().http.get(&id.context))
        {
            rec.state = s.clone();
        }
        Some(rec)
    }

    /// The "Envoy process" this host runs in; pass it to
    /// [`HostBuilder::process`](super::HostBuilder::process) to run another plugin beside this
    /// one (shared data and queues are then shared by `vm_id`, metrics and clusters by the
    /// process).
    pub fn process(&self) -> Process {
        Process(self.world.clone())
    }

    /// A readable account of what happened, for assertion messages: failures, strict-mode
    /// violations, every host call (worker, context, name, detail, status) and every log line.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let w = lock(&self.world);
        let mut out = String::new();
        for f in &w.failures {
            let _ = writeln!(out, "FAILURE w{} {}: {}", f.worker, f.callback, f.message);
        }
        for v in &w.violations {
            let _ = writeln!(out, "STRICT {v}");
        }
        for c in &w.trace {
            let _ = writeln!(
                out,
                "w{} ctx{} {}({}) -> {}",
                c.worker, c.context, c.name, c.detail, c.status
            );
        }
        for l in &w.logs {
            let _ = writeln!(
                out,
                "[{:?} {} w{} ctx{}] {}",
                l.level, l.plugin, l.worker, l.context, l.message
            );
        }
        out
    }

    /// This host's id within its process.
    pub fn host_id(&self) -> u32 {
        self.host_id
    }
}
