//! The host: VMs per worker, the HTTP/TCP filter-chain model, routing, clock and failures.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use wasmtime::{Linker, StoreLimitsBuilder};

use crate::abi::{DEFAULT_MEMORY_LIMIT, LogLevel};
use crate::module::{AbiVersion, WasmModule, engine, wt};
use crate::properties::{PropertyValue, gateway_preset, key_from_dotted};
use crate::records::*;
use crate::routes::{Route, RouteDecision, VirtualHost, decide};
use crate::state::{
    CallResponse, Callback, Deferred, Direction, HttpState, Notify, Pairs, Phase, TcpState, VmData,
    World, lock,
};
use crate::vm::{CallbackCost, Vm};
use crate::{hostcalls, wasi};

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

/// Host configuration, set through [`HostBuilder`].
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
    /// Run inside another host's process (see [`Host::process`]).
    pub process: Option<Process>,
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
        }
    }
}

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

/// One simulated Envoy process: what several plugins (hosts) share.
#[derive(Clone, Debug)]
pub struct Process(Arc<Mutex<World>>);

/// Identifies a stream: the worker and the context id in that worker's VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub worker: usize,
    pub context: u32,
}

/// Host-side record of an HTTP stream, kept after the stream is deleted.
#[derive(Debug, Clone, Default)]
pub struct StreamRecord {
    pub id: Option<StreamId>,
    pub root: u32,
    pub local_response: Option<LocalResponse>,
    /// Local responses the filter asked for after response headers went downstream.
    pub refused_local_responses: Vec<LocalResponse>,
    pub reset: bool,
    /// The route the HCM cached at the start of the filter chain.
    pub cached_route: RouteDecision,
    /// The route the router used (cached, or recomputed after a route-cache clear).
    pub route: RouteDecision,
    pub upstream_cluster: Option<String>,
    pub upstream_reached: bool,
    pub response_flags: Vec<String>,
    /// The filter is out of the chain (VM failed under FAIL_OPEN, or failure reply sent).
    pub filter_skipped: bool,
    pub fuel: u64,
    pub callbacks: Vec<CallbackCost>,
    pub done_returned_false: bool,
    pub deleted: bool,
    /// The last state of the stream as the filter saw it (kept after on_delete).
    pub state: HttpState,
}

/// An Envoy with one wasm filter (and a router) per listener, per worker.
pub struct Host {
    module: Arc<WasmModule>,
    linker: Linker<VmData>,
    cfg: HostConfig,
    world: Arc<Mutex<World>>,
    vms: Vec<Vm>,
    roots: Vec<u32>,
    next_context: Vec<u32>,
    next_worker: usize,
    streams: BTreeMap<StreamId, StreamRecord>,
    tcp: BTreeMap<StreamId, TcpRecord>,
    /// FAIL_RELOAD: virtual time (ms) from which a failed worker VM is replaced.
    reload_at: Vec<Option<u64>>,
    /// How many times a VM was replaced under FAIL_RELOAD.
    pub reloads: u32,
    configure_results: Vec<bool>,
    host_id: u32,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = lock(&self.world);
        f.debug_struct("Host")
            .field("module", &self.module.name())
            .field("vms", &self.vms)
            .field("failures", &w.failures)
            .field("logs", &w.logs)
            .field("trace", &w.trace)
            .field("callouts", &w.callouts)
            .field("grpc", &w.grpc)
            .field("metrics", &w.metrics)
            .field("route_clears", &w.route_clears)
            .field("violations", &w.violations)
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

/// Result of one callback from the host's point of view.
enum Cb {
    Ret(Option<i64>),
    Trapped,
    Skipped,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Request,
    Response,
}

impl Host {
    pub fn builder(module: &Arc<WasmModule>) -> HostBuilder {
        HostBuilder {
            module: module.clone(),
            cfg: HostConfig::default(),
        }
    }

    fn new(module: Arc<WasmModule>, cfg: HostConfig) -> Result<Host> {
        if module.abi() < AbiVersion::V0_2_0 {
            bail!(
                "{}: ABI 0.1.0 modules are not supported by this host",
                module.name()
            );
        }
        let mut linker = Linker::new(engine()?);
        wt(hostcalls::add_to_linker(&mut linker, module.abi()))?;
        wt(wasi::add_to_linker(&mut linker, "wasi_snapshot_preview1"))?;
        wt(wasi::add_to_linker(&mut linker, "wasi_unstable"))?;
        let world = match &cfg.process {
            Some(p) => p.0.clone(),
            None => {
                let mut world = World::new(cfg.seed);
                world.properties = cfg.properties.clone();
                world.log_level = cfg.log_level;
                world.strict = cfg.strict.clone();
                Arc::new(Mutex::new(world))
            }
        };
        let host_id = {
            let mut w = lock(&world);
            for c in &cfg.clusters {
                if !w.knows_cluster(c) {
                    w.clusters.push(c.clone());
                }
            }
            w.next_host_id += 1;
            w.next_host_id
        };
        // Envoy also runs the plugin on the main thread: N+1 VMs.
        let workers = cfg.workers + usize::from(cfg.main_thread_vm);
        let mut host = Host {
            module,
            linker,
            cfg,
            world,
            host_id,
            vms: Vec::new(),
            roots: vec![0; workers],
            next_context: vec![1; workers],
            next_worker: 0,
            streams: BTreeMap::new(),
            tcp: BTreeMap::new(),
            reload_at: vec![None; workers],
            reloads: 0,
            configure_results: vec![false; workers],
        };
        for w in 0..workers {
            let vm = host.start_vm(w)?;
            host.vms.push(vm);
            let ok = host.start_root(w)?;
            if !ok {
                bail!(
                    "worker {w}: proxy_on_vm_start or proxy_on_configure returned false\n{host:#?}"
                );
            }
        }
        Ok(host)
    }

    fn start_vm(&mut self, worker: usize) -> Result<Vm> {
        let data = VmData {
            world: self.world.clone(),
            host_id: self.host_id,
            worker,
            vm_id: self.cfg.vm_id.clone(),
            abi: self.module.abi(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.cfg.memory_limit)
                .build(),
            memory: None,
            vm_config: self.cfg.vm_config.clone(),
            plugin_config: self.cfg.plugin_config.clone(),
            env: self.cfg.env.clone(),
            cb: Callback::None,
            active: 0,
            contexts: BTreeMap::new(),
            http: BTreeMap::new(),
            tcp: BTreeMap::new(),
            ticks: BTreeMap::new(),
            root_properties: BTreeMap::new(),
            ffi_args: Vec::new(),
            call_response: None,
            grpc_message: None,
            grpc_initial: None,
            grpc_trailing: None,
            status: None,
            last_status_code: 0,
            deferred: Vec::new(),
            exit_code: None,
            pending_done: Vec::new(),
            plugin_name: self.cfg.plugin_name.clone(),
            root_id: self.cfg.root_id.clone(),
        };
        let mut vm = Vm::new(&self.module, &self.linker, data, self.cfg.fuel_per_callback)?;
        if let Err(e) = vm.initialize() {
            self.record_failure(worker, "_initialize", &format!("{e:#}"));
            return Err(e);
        }
        Ok(vm)
    }

    fn alloc_context(&mut self, worker: usize) -> u32 {
        let id = self.next_context[worker];
        self.next_context[worker] += 1;
        id
    }

    /// A new root context: on_context_create(root, 0), on_vm_start, on_configure.
    fn start_root(&mut self, worker: usize) -> Result<bool> {
        let root = self.alloc_context(worker);
        self.vms[worker].store.data_mut().contexts.insert(root, 0);
        self.roots[worker] = root;
        let vm_cfg = self.cfg.vm_config.len() as i32;
        let plugin_cfg = self.cfg.plugin_config.len() as i32;
        let steps: [(Callback, &'static str, Vec<i32>); 3] = [
            (
                Callback::ContextCreate,
                "proxy_on_context_create",
                vec![root as i32, 0],
            ),
            (
                Callback::VmStart,
                "proxy_on_vm_start",
                vec![root as i32, vm_cfg],
            ),
            (
                Callback::Configure,
                "proxy_on_configure",
                vec![root as i32, plugin_cfg],
            ),
        ];
        let mut ok = true;
        for (cb, name, args) in steps {
            match self.vms[worker].call(cb, root, name, &args) {
                Ok(Some(r)) if cb != Callback::ContextCreate => ok &= r != 0,
                Ok(_) => {}
                Err(e) => {
                    self.record_failure(worker, name, &e);
                    return Err(anyhow!("worker {worker}: {e}\n{self:#?}"));
                }
            }
            self.after_callback(worker);
            if !ok {
                break;
            }
        }
        self.configure_results[worker] = ok;
        Ok(ok)
    }

    /// Re-configures: a new root context on each existing VM (Envoy, on a plugin-config
    /// update for the same `vm_id`). Returns `on_configure`'s result per worker. New streams
    /// attach to the new root. When any `on_configure` returns false, Envoy rejects the
    /// update ("Unable to create Wasm HTTP filter") and the previous filter config, with its
    /// root contexts, keeps serving.
    pub fn reconfigure(&mut self, plugin_config: impl Into<Vec<u8>>) -> Result<Vec<bool>> {
        let previous = (
            std::mem::replace(&mut self.cfg.plugin_config, plugin_config.into()),
            self.roots.clone(),
            self.configure_results.clone(),
        );
        let mut out = Vec::new();
        for w in 0..self.vms.len() {
            self.vms[w].store.data_mut().plugin_config = self.cfg.plugin_config.clone();
            out.push(self.start_root(w)?);
        }
        if out.contains(&false) {
            let (config, roots, results) = previous;
            for vm in &mut self.vms {
                vm.store.data_mut().plugin_config = config.clone();
            }
            self.cfg.plugin_config = config;
            self.roots = roots;
            self.configure_results = results;
        }
        Ok(out)
    }

    fn record_failure(&self, worker: usize, callback: &str, message: &str) {
        lock(&self.world).failures.push(VmFailure {
            worker,
            callback: callback.to_string(),
            message: message.to_string(),
        });
    }

    fn call(
        &mut self,
        worker: usize,
        cb: Callback,
        ctx: u32,
        name: &'static str,
        args: &[i32],
    ) -> Cb {
        if self.vms[worker].failed.is_some() {
            return Cb::Skipped;
        }
        let n = self.vms[worker].costs.len();
        let r = self.vms[worker].call(cb, ctx, name, args);
        let cost = self.vms[worker].costs[n..].to_vec();
        if let Some(rec) = self.streams.get_mut(&StreamId {
            worker,
            context: ctx,
        }) {
            rec.fuel += cost.iter().map(|c| c.fuel).sum::<u64>();
            rec.callbacks.extend(cost);
        }
        match r {
            Ok(v) => Cb::Ret(v),
            Err(e) => {
                self.record_failure(worker, name, &e);
                Cb::Trapped
            }
        }
    }

    // === public accessors ===

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

    // === streams ===

    /// Starts an HTTP request on the next worker (round robin).
    pub fn http_request(&mut self) -> HttpRequest<'_> {
        let worker = self.next_worker % self.cfg.workers;
        self.next_worker += 1;
        HttpRequest {
            host: self,
            worker,
            headers: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// Starts a TCP connection on the next worker.
    pub fn tcp_connection(&mut self) -> Result<TcpConnection<'_>> {
        let worker = self.next_worker % self.cfg.workers;
        self.next_worker += 1;
        self.prepare_worker(worker)?;
        let ctx = self.alloc_context(worker);
        let root = self.roots[worker];
        let id = StreamId {
            worker,
            context: ctx,
        };
        {
            let d = self.vms[worker].store.data_mut();
            d.contexts.insert(ctx, root);
            d.tcp.insert(
                ctx,
                TcpState {
                    root,
                    ..Default::default()
                },
            );
        }
        self.tcp.insert(
            id,
            TcpRecord {
                id: Some(id),
                ..Default::default()
            },
        );
        let skipped = matches!(
            self.call(
                worker,
                Callback::ContextCreate,
                ctx,
                "proxy_on_context_create",
                &[ctx as i32, root as i32]
            ),
            Cb::Skipped | Cb::Trapped
        );
        if !skipped {
            let r = self.call(
                worker,
                Callback::NewConnection,
                ctx,
                "proxy_on_new_connection",
                &[ctx as i32],
            );
            self.tcp_result(id, r, None);
        }
        self.after_callback(worker);
        Ok(TcpConnection { host: self, id })
    }

    /// FAIL_RELOAD: a VM that failed is replaced before the next stream.
    fn prepare_worker(&mut self, worker: usize) -> Result<()> {
        let now = lock(&self.world).now_ms();
        if self.reload_at[worker].is_some_and(|t| now >= t) {
            self.reload_at[worker] = None;
            let next = self.next_context[worker];
            let vm = self.start_vm(worker)?;
            self.vms[worker] = vm;
            self.next_context[worker] = next;
            self.reloads += 1;
            self.start_root(worker)?;
        }
        Ok(())
    }

    fn schedule_reload(&mut self, worker: usize) {
        if self.reload_at[worker].is_none() {
            let now = lock(&self.world).now_ms();
            self.reload_at[worker] = Some(now + self.cfg.reload_backoff_ms);
        }
    }

    fn st(&mut self, id: StreamId) -> Option<&mut HttpState> {
        self.vms[id.worker]
            .store
            .data_mut()
            .http
            .get_mut(&id.context)
    }

    fn dir(&mut self, id: StreamId, side: Side) -> Option<&mut Direction> {
        let s = self.st(id)?;
        Some(match side {
            Side::Request => &mut s.request,
            Side::Response => &mut s.response,
        })
    }

    fn rec(&mut self, id: StreamId) -> &mut StreamRecord {
        self.streams.entry(id).or_default()
    }

    fn begin_http(
        &mut self,
        worker: usize,
        headers: Pairs,
        eos: bool,
        props: Vec<(String, Vec<u8>)>,
    ) -> Result<StreamId> {
        self.prepare_worker(worker)?;
        let ctx = self.alloc_context(worker);
        let root = self.roots[worker];
        let id = StreamId {
            worker,
            context: ctx,
        };
        let headers: Pairs = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let cached = self.route_for(&headers);
        {
            let d = self.vms[worker].store.data_mut();
            d.contexts.insert(ctx, root);
            let mut s = HttpState {
                root,
                ..Default::default()
            };
            s.properties.extend(props);
            s.request.headers = headers;
            s.request.headers_received = true;
            s.request.end_stream = eos;
            d.http.insert(ctx, s);
        }
        self.streams.insert(
            id,
            StreamRecord {
                id: Some(id),
                root,
                cached_route: cached,
                ..Default::default()
            },
        );
        let vm_failed = self.vms[worker].failed.is_some();
        if vm_failed {
            // A VM that already failed: FAIL_OPEN skips the filter, the others reply 503.
            self.rec(id).filter_skipped = true;
            if self.cfg.failure_policy != FailurePolicy::FailOpen {
                self.failure_reply(id);
                return Ok(id);
            }
            self.pump(id, Side::Request);
            return Ok(id);
        }
        match self.call(
            worker,
            Callback::ContextCreate,
            ctx,
            "proxy_on_context_create",
            &[ctx as i32, root as i32],
        ) {
            Cb::Trapped => {
                self.on_trap(id);
                return Ok(id);
            }
            _ => self.after_callback(worker),
        }
        if let Some(d) = self.dir(id, Side::Request) {
            d.headers_open = true;
        }
        self.deliver_headers(id, Side::Request);
        Ok(id)
    }

    /// The route table: the configured virtual hosts, or one catch-all virtual host built
    /// from `route_cluster_header` / `route_cluster`.
    fn virtual_hosts(&self) -> Vec<VirtualHost> {
        if !self.cfg.virtual_hosts.is_empty() {
            return self.cfg.virtual_hosts.clone();
        }
        let route = match (&self.cfg.route_cluster_header, &self.cfg.route_cluster) {
            (Some(h), _) => Route::prefix_to_cluster_header("default", "/", h),
            (None, Some(c)) => Route::prefix_to_cluster("default", "/", c),
            (None, None) => return Vec::new(),
        };
        vec![VirtualHost::new("default", ["*"]).route(route)]
    }

    fn route_for(&self, headers: &Pairs) -> RouteDecision {
        decide(&self.virtual_hosts(), headers, self.cfg.strip_any_host_port)
    }

    fn routing_enabled(&self) -> bool {
        !self.cfg.virtual_hosts.is_empty()
            || self.cfg.route_cluster_header.is_some()
            || self.cfg.route_cluster.is_some()
    }

    fn ended(&self, id: StreamId) -> bool {
        self.streams
            .get(&id)
            .is_none_or(|r| r.local_response.is_some() || r.reset || r.deleted)
    }

    /// Runs a stream callback and applies its result to `side`.
    fn deliver_headers(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        let n = d.headers.len() as i32;
        let eos = (d.end_stream && !d.body_pending && d.trailers.is_none()) as i32;
        d.headers_open = true;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestHeaders, "proxy_on_request_headers"),
            Side::Response => (Callback::ResponseHeaders, "proxy_on_response_headers"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, n, eos]);
        self.apply(id, side, Phase::Headers, r);
    }

    fn deliver_body(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        d.body_open = true;
        let size = d.body.len() as i32;
        let eos = (d.end_stream && d.trailers.is_none()) as i32;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestBody, "proxy_on_request_body"),
            Side::Response => (Callback::ResponseBody, "proxy_on_response_body"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, size, eos]);
        self.apply(id, side, Phase::Body, r);
    }

    fn deliver_trailers(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        d.trailers_open = true;
        let n = d.trailers.as_ref().map_or(0, |t| t.len()) as i32;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestTrailers, "proxy_on_request_trailers"),
            Side::Response => (Callback::ResponseTrailers, "proxy_on_response_trailers"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, n]);
        self.apply(id, side, Phase::Trailers, r);
    }

    fn stream_call(&mut self, id: StreamId, cb: Callback, name: &'static str, args: &[i32]) -> Cb {
        if self.streams.get(&id).is_some_and(|r| r.filter_skipped) {
            return Cb::Skipped;
        }
        self.call(id.worker, cb, id.context, name, args)
    }

    /// Envoy's handling of a filter's return value, then the deferred actions.
    fn apply(&mut self, id: StreamId, side: Side, phase: Phase, r: Cb) {
        let action = match r {
            Cb::Trapped => {
                self.on_trap(id);
                return;
            }
            Cb::Skipped => 0,
            Cb::Ret(v) => v.unwrap_or(0),
        };
        // A local reply asked for during the callback runs after it (Envoy after-VM-call action).
        if let Some(reply) = self.st(id).and_then(|s| s.pending_local_reply.take()) {
            self.local_reply(id, reply);
            self.after_callback(id.worker);
            return;
        }
        if let Some(d) = self.dir(id, side) {
            if action == 0 {
                match phase {
                    // Envoy drops its pointer to the map once the callback continues.
                    Phase::Headers => d.headers_open = false,
                    Phase::Body => {
                        let body = std::mem::take(&mut d.body);
                        d.forwarded_body.extend(body);
                        d.body_open = false;
                    }
                    Phase::Trailers => {
                        d.trailers_open = false;
                        d.trailers_forwarded = true;
                    }
                }
                d.paused = None;
            } else {
                // Headers: StopAllIterationAndWatermark; body: StopIterationAndBuffer.
                d.paused = Some(phase);
            }
        }
        if action == 0 && phase == Phase::Headers {
            self.forward_headers(id, side);
        }
        self.pump(id, side);
        self.after_callback(id.worker);
    }

    fn forward_headers(&mut self, id: StreamId, side: Side) {
        if let Some(d) = self.dir(id, side) {
            d.headers_forwarded = true;
        }
        if side == Side::Request {
            self.route(id);
        }
    }

    /// The router's decision once request headers leave the filter.
    fn route(&mut self, id: StreamId) {
        if !self.routing_enabled() || self.ended(id) {
            return;
        }
        let host = self.host_id;
        let cleared = lock(&self.world)
            .route_clears
            .iter()
            .any(|c| c.host == host && c.worker == id.worker && c.context == id.context);
        let decision = if cleared {
            let headers = self
                .st(id)
                .map(|s| s.request.headers.clone())
                .unwrap_or_default();
            self.route_for(&headers)
        } else {
            self.rec(id).cached_route.clone()
        };
        self.rec(id).route = decision.clone();
        if let (Some(r), Some(s)) = (decision.route.clone(), self.st(id)) {
            s.properties
                .insert("route_name".to_string(), r.into_bytes());
        }
        if decision.route.is_none() {
            // No virtual host or no route: Envoy answers 404 with flag NR.
            let rec = self.rec(id);
            rec.response_flags.push("NR".to_string());
            let reply = LocalResponse {
                status: 404,
                body: Vec::new(),
                headers: Vec::new(),
                details: "route_not_found".to_string(),
                grpc_status: None,
                flags: vec!["NR".to_string()],
                source: ReplySource::Router,
            };
            self.local_reply(id, reply);
            return;
        }
        let cluster = decision.cluster;
        let known = cluster
            .as_ref()
            .is_some_and(|c| lock(&self.world).knows_cluster(c));
        let code = self.cfg.cluster_not_found_code;
        if let (Some(c), Some(s)) = (cluster.clone(), self.st(id)) {
            // What Envoy reports for the routed stream.
            s.properties
                .insert("xds\0cluster_name".to_string(), c.clone().into_bytes());
            s.properties
                .insert("cluster_name".to_string(), c.into_bytes());
        }
        let rec = self.rec(id);
        rec.upstream_cluster = cluster;
        if known {
            rec.upstream_reached = true;
        } else {
            rec.response_flags.push("NC".to_string());
            let reply = LocalResponse {
                status: code,
                body: Vec::new(),
                headers: Vec::new(),
                details: "cluster_not_found".to_string(),
                grpc_status: None,
                flags: vec!["NC".to_string()],
                source: ReplySource::Router,
            };
            self.local_reply(id, reply);
        }
    }

    /// Delivers whatever is pending on `side` while it is not paused.
    fn pump(&mut self, id: StreamId, side: Side) {
        loop {
            if self.ended(id) && side == Side::Request {
                return;
            }
            let Some(d) = self.dir(id, side) else { return };
            if d.paused.is_some() || !d.headers_received || d.complete {
                return;
            }
            if !d.headers_forwarded {
                self.forward_headers(id, side);
                continue;
            }
            if d.body_pending {
                d.body_pending = false;
                self.deliver_body(id, side);
                return;
            }
            if d.trailers_pending {
                d.trailers_pending = false;
                self.deliver_trailers(id, side);
                return;
            }
            if d.end_stream && d.body.is_empty() {
                d.complete = true;
            }
            return;
        }
    }

    fn receive_body(&mut self, id: StreamId, side: Side, chunk: &[u8], eos: bool) {
        if side == Side::Request && self.ended(id) {
            return;
        }
        let limit = self.cfg.buffer_limit;
        let Some(d) = self.dir(id, side) else { return };
        if d.complete {
            return;
        }
        let buffering = d.paused.is_some();
        d.body.extend_from_slice(chunk);
        d.end_stream |= eos;
        if buffering && d.body.len() > limit {
            // Envoy: a buffered body over the limit is 413 on requests, 500 on responses.
            let status = if side == Side::Request { 413 } else { 500 };
            let details = if side == Side::Request {
                "request_payload_too_large"
            } else {
                "response_payload_too_large"
            };
            self.local_reply(
                id,
                LocalResponse {
                    status,
                    body: Vec::new(),
                    headers: Vec::new(),
                    details: details.to_string(),
                    grpc_status: None,
                    flags: Vec::new(),
                    source: ReplySource::BufferLimit,
                },
            );
            return;
        }
        match d.paused {
            // StopAll in headers: no body callback until resumed.
            Some(Phase::Headers) | Some(Phase::Trailers) => d.body_pending = true,
            // Buffering in body: the callback sees the cumulative size.
            Some(Phase::Body) => self.deliver_body(id, side),
            None => {
                d.body_pending = true;
                self.pump(id, side);
            }
        }
    }

    fn receive_trailers(&mut self, id: StreamId, side: Side, trailers: Pairs) {
        if side == Side::Request && self.ended(id) {
            return;
        }
        let Some(d) = self.dir(id, side) else { return };
        d.trailers = Some(
            trailers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        );
        d.end_stream = true;
        d.trailers_pending = true;
        self.pump(id, side);
    }

    fn resume(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        match d.paused.take() {
            Some(Phase::Headers) => {
                self.forward_headers(id, side);
                self.pump(id, side);
            }
            Some(Phase::Body) => {
                let body = std::mem::take(&mut d.body);
                d.forwarded_body.extend(body);
                d.body_open = false;
                self.pump(id, side);
            }
            Some(Phase::Trailers) => {
                d.trailers_open = false;
                d.trailers_forwarded = true;
                self.pump(id, side);
            }
            None => {}
        }
    }

    /// A local reply: refused (stream reset) once response headers went downstream,
    /// otherwise it becomes the response and runs through the filter's encoder callbacks.
    fn local_reply(&mut self, id: StreamId, reply: LocalResponse) {
        let sent = self.st(id).is_some_and(|s| s.response.headers_forwarded);
        let rec = self.rec(id);
        if sent || rec.local_response.is_some() {
            rec.refused_local_responses.push(reply);
            if sent {
                rec.reset = true;
            }
            return;
        }
        let via_filter = reply.source != ReplySource::VmFailure;
        rec.local_response = Some(reply.clone());
        let mut headers = vec![(":status".to_string(), reply.status.to_string())];
        if !reply.body.is_empty() {
            headers.push(("content-length".into(), reply.body.len().to_string()));
            headers.push(("content-type".into(), "text/plain".into()));
        }
        headers.extend(reply.headers.iter().cloned());
        let Some(s) = self.st(id) else { return };
        s.request.paused = None;
        s.response = Direction {
            headers,
            headers_received: true,
            body_pending: !reply.body.is_empty(),
            body: reply.body.clone(),
            end_stream: true,
            ..Default::default()
        };
        if via_filter && !self.streams.get(&id).is_some_and(|r| r.filter_skipped) {
            self.deliver_headers(id, Side::Response);
        } else if let Some(s) = self.st(id) {
            let r = &mut s.response;
            r.headers_forwarded = true;
            r.forwarded_body = std::mem::take(&mut r.body);
            r.body_pending = false;
            r.complete = true;
        }
    }

    fn failure_reply(&mut self, id: StreamId) {
        self.rec(id).filter_skipped = true;
        self.local_reply(
            id,
            LocalResponse {
                status: 503,
                body: Vec::new(),
                headers: Vec::new(),
                details: "wasm_fail_stream".to_string(),
                grpc_status: Some(14),
                flags: Vec::new(),
                source: ReplySource::VmFailure,
            },
        );
    }

    fn on_trap(&mut self, id: StreamId) {
        match self.cfg.failure_policy {
            FailurePolicy::FailOpen => {
                // The filter leaves the chain; the stream continues as if it had continued.
                self.rec(id).filter_skipped = true;
                for side in [Side::Request, Side::Response] {
                    if let Some(d) = self.dir(id, side) {
                        d.paused = None;
                        // Whatever the filter held goes on without it.
                        let held = d.headers_forwarded && !d.body_pending;
                        if held {
                            let body = std::mem::take(&mut d.body);
                            d.forwarded_body.extend(body);
                            d.body_open = false;
                        }
                        if d.headers_received && !d.headers_forwarded {
                            self.forward_headers(id, side);
                        }
                    }
                    self.pump(id, side);
                }
            }
            FailurePolicy::FailClosed => self.failure_reply(id),
            FailurePolicy::FailReload => {
                self.schedule_reload(id.worker);
                self.failure_reply(id);
            }
        }
    }

    /// Deferred actions and cross-VM notifications, run after each callback returns.
    fn after_callback(&mut self, worker: usize) {
        self.apply_pending_local_replies(worker);
        loop {
            let deferred = std::mem::take(&mut self.vms[worker].store.data_mut().deferred);
            let notify = self.take_notifications();
            if deferred.is_empty() && notify.is_empty() {
                return;
            }
            for d in deferred {
                match d {
                    Deferred::Continue { context, stream } => {
                        let id = StreamId { worker, context };
                        match stream {
                            0 => self.resume(id, Side::Request),
                            1 => self.resume(id, Side::Response),
                            2 | 3 => self.tcp_resume(id, stream),
                            _ => {}
                        }
                    }
                    Deferred::Close { context, stream } => {
                        let id = StreamId { worker, context };
                        if stream <= 1 {
                            self.rec(id).reset = true;
                        } else if let Some(t) = self.tcp.get_mut(&id) {
                            t.closed_by_filter.push(stream);
                        }
                    }
                    Deferred::Done { context } => {
                        self.vms[worker]
                            .store
                            .data_mut()
                            .pending_done
                            .retain(|c| *c != context);
                        self.delete_root(worker, context);
                    }
                }
            }
            for n in notify {
                let Notify::QueueReady {
                    host: _,
                    worker: w,
                    root_context,
                    queue_id,
                } = n;
                if w < self.vms.len() {
                    let _ = self.call(
                        w,
                        Callback::QueueReady,
                        root_context,
                        "proxy_on_queue_ready",
                        &[root_context as i32, queue_id as i32],
                    );
                    if w != worker {
                        self.after_callback(w);
                    }
                }
            }
        }
    }

    /// Shuts the VMs down as Envoy does: `on_done` on every root context; a root returning
    /// false stays until it calls `proxy_done` (e.g. from a tick), then gets `on_delete`.
    /// Returns the roots still pending.
    pub fn shutdown(&mut self) -> Vec<(usize, u32)> {
        for w in 0..self.vms.len() {
            let roots: Vec<u32> = self.vms[w]
                .store
                .data()
                .contexts
                .iter()
                .filter(|(_, parent)| **parent == 0)
                .map(|(id, _)| *id)
                .collect();
            for root in roots {
                let r = self.call(w, Callback::Done, root, "proxy_on_done", &[root as i32]);
                if let Cb::Ret(Some(0)) = r {
                    self.vms[w].store.data_mut().pending_done.push(root);
                } else {
                    self.delete_root(w, root);
                }
                self.after_callback(w);
            }
        }
        self.pending_done()
    }

    /// Root contexts waiting for `proxy_done`.
    pub fn pending_done(&self) -> Vec<(usize, u32)> {
        self.vms
            .iter()
            .enumerate()
            .flat_map(|(w, vm)| vm.store.data().pending_done.iter().map(move |r| (w, *r)))
            .collect()
    }

    fn delete_root(&mut self, worker: usize, root: u32) {
        let _ = self.call(
            worker,
            Callback::Delete,
            root,
            "proxy_on_delete",
            &[root as i32],
        );
        let d = self.vms[worker].store.data_mut();
        d.contexts.remove(&root);
        d.ticks.remove(&root);
    }

    /// Queue notifications addressed to this host's VMs (others stay for their host).
    fn take_notifications(&self) -> Vec<Notify> {
        let mut w = lock(&self.world);
        let (mine, others): (Vec<Notify>, Vec<Notify>) = std::mem::take(&mut w.notify)
            .into_iter()
            .partition(|Notify::QueueReady { host, .. }| *host == self.host_id);
        w.notify = others;
        mine
    }

    /// Delivers what other plugins of the process left for this host (queue notifications).
    pub fn run_pending(&mut self) {
        for w in 0..self.vms.len() {
            self.after_callback(w);
        }
    }

    /// The "Envoy process" this host runs in; pass it to [`HostBuilder::process`] to run
    /// another plugin beside this one (shared data and queues are then shared by `vm_id`,
    /// metrics and clusters by the process).
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

    /// on_done, then (unless it returned false) on_log and on_delete.
    fn end_stream(&mut self, id: StreamId) {
        if self.streams.get(&id).is_some_and(|r| r.deleted) {
            return;
        }
        let r = self.stream_call(id, Callback::Done, "proxy_on_done", &[id.context as i32]);
        // For stream contexts Envoy ignores on_done's result (only roots may defer with
        // proxy_done, at VM shutdown).
        if let Cb::Ret(Some(0)) = r {
            self.rec(id).done_returned_false = true;
        }
        self.after_callback(id.worker);
        self.log_and_delete(id);
    }

    fn log_and_delete(&mut self, id: StreamId) {
        if let Some(s) = self.st(id) {
            s.log_phase = true;
            s.request.headers_open = false;
            s.response.headers_open = false;
            s.request.body_open = false;
            s.response.body_open = false;
        }
        let _ = self.stream_call(id, Callback::Log, "proxy_on_log", &[id.context as i32]);
        self.after_callback(id.worker);
        let _ = self.stream_call(
            id,
            Callback::Delete,
            "proxy_on_delete",
            &[id.context as i32],
        );
        let d = self.vms[id.worker].store.data_mut();
        let state = d.http.remove(&id.context);
        d.contexts.remove(&id.context);
        let rec = self.rec(id);
        rec.deleted = true;
        if let Some(s) = state {
            rec.state = s;
        }
    }

    // === clock, ticks, callouts ===

    /// Advances the virtual clock by `ms`, firing ticks and callout timeouts in time order.
    pub fn advance(&mut self, ms: u64) {
        let target = lock(&self.world).now_ms() + ms;
        loop {
            let mut next: Option<u64> = None;
            for vm in &self.vms {
                for (_, due) in vm.store.data().ticks.values() {
                    next = Some(next.map_or(*due, |n| n.min(*due)));
                }
            }
            {
                let w = lock(&self.world);
                let me = self.host_id;
                let http = w
                    .callouts
                    .values()
                    .filter(|c| c.host == me)
                    .filter_map(|c| c.deadline_ms);
                let grpc = w
                    .grpc
                    .values()
                    .filter(|g| g.host == me && !g.cancelled)
                    .filter_map(|g| g.deadline_ms);
                for d in http.chain(grpc) {
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
            }
            let Some(t) = next.filter(|t| *t <= target) else {
                break;
            };
            lock(&self.world).elapsed_ns = t * 1_000_000;
            for w in 0..self.vms.len() {
                let due: Vec<u32> = self.vms[w]
                    .store
                    .data()
                    .ticks
                    .iter()
                    .filter(|(_, (_, d))| *d <= t)
                    .map(|(r, _)| *r)
                    .collect();
                for root in due {
                    if let Some(e) = self.vms[w].store.data_mut().ticks.get_mut(&root) {
                        e.1 = t + e.0;
                    }
                    let _ = self.call(w, Callback::Tick, root, "proxy_on_tick", &[root as i32]);
                    self.after_callback(w);
                }
            }
            let expired: Vec<u32> = lock(&self.world)
                .callouts
                .values()
                .filter(|c| c.host == self.host_id && c.deadline_ms.is_some_and(|d| d <= t))
                .map(|c| c.token)
                .collect();
            for token in expired {
                self.fail_callout(token);
            }
            let expired: Vec<GrpcCallout> = lock(&self.world)
                .grpc
                .values()
                .filter(|g| {
                    g.host == self.host_id && !g.cancelled && g.deadline_ms.is_some_and(|d| d <= t)
                })
                .cloned()
                .collect();
            for g in expired {
                // gRPC DEADLINE_EXCEEDED.
                self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(4));
                lock(&self.world).grpc.remove(&g.token);
            }
        }
        lock(&self.world).elapsed_ns = target * 1_000_000;
    }

    /// Fires the tick of every root now, without moving the clock.
    pub fn tick(&mut self) {
        for w in 0..self.vms.len() {
            let roots: Vec<u32> = self.vms[w].store.data().ticks.keys().copied().collect();
            for root in roots {
                let _ = self.call(w, Callback::Tick, root, "proxy_on_tick", &[root as i32]);
                self.after_callback(w);
            }
        }
    }

    /// Answers an HTTP callout: `on_http_call_response` with `:status` plus `headers`.
    pub fn answer_callout(
        &mut self,
        token: u32,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        let mut h: Pairs = vec![(":status".into(), status.to_string())];
        h.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        self.callout_response(
            token,
            Some(CallResponse {
                headers: h,
                body: body.to_vec(),
                trailers: Vec::new(),
            }),
        )
    }

    /// Fails a callout (reset): `on_http_call_response` with 0 headers.
    pub fn fail_callout(&mut self, token: u32) {
        let _ = self.callout_response(token, None);
    }

    fn callout_response(&mut self, token: u32, resp: Option<CallResponse>) -> Result<()> {
        let id = self.host_id;
        let c = {
            let mut w = lock(&self.world);
            match w.callouts.get(&token) {
                Some(c) if c.host == id => w.callouts.remove(&token),
                _ => None,
            }
        };
        let Some(c) = c else {
            bail!("no pending callout with token {token} on this host");
        };
        let w = c.worker;
        let (n, body, trailers) = resp.as_ref().map_or((0, 0, 0), |r| {
            (r.headers.len(), r.body.len(), r.trailers.len())
        });
        {
            let d = self.vms[w].store.data_mut();
            if !d.contexts.contains_key(&c.context) {
                return Ok(());
            }
            // Envoy: a failure sets BrokenConnection (11) "reset"; a success leaves the
            // root's status code as it was.
            if resp.is_none() {
                d.status = Some((11, "reset".to_string()));
                d.last_status_code = 11;
            }
            d.call_response = resp;
        }
        let _ = self.call(
            w,
            Callback::HttpCallResponse,
            c.context,
            "proxy_on_http_call_response",
            &[
                c.context as i32,
                token as i32,
                n as i32,
                body as i32,
                trailers as i32,
            ],
        );
        let d = self.vms[w].store.data_mut();
        d.call_response = None;
        d.status = None;
        self.after_stream_effects(w, c.context);
        Ok(())
    }

    /// After a root-level callback acting on a stream (callout response, tick, queue):
    /// local replies asked for from it.
    fn after_stream_effects(&mut self, worker: usize, _context: u32) {
        self.after_callback(worker);
    }

    /// Local replies a stream asked for from a root-level callback (tick, queue, callout
    /// response) after `proxy_set_effective_context`.
    fn apply_pending_local_replies(&mut self, worker: usize) {
        let ids: Vec<u32> = self.vms[worker]
            .store
            .data()
            .http
            .iter()
            .filter(|(_, s)| s.pending_local_reply.is_some())
            .map(|(k, _)| *k)
            .collect();
        for ctx in ids {
            let id = StreamId {
                worker,
                context: ctx,
            };
            if let Some(reply) = self.st(id).and_then(|s| s.pending_local_reply.take()) {
                self.local_reply(id, reply);
            }
        }
    }

    /// Answers a unary gRPC call: status 0 delivers `on_grpc_receive`, else `on_grpc_close`.
    pub fn answer_grpc(&mut self, token: u32, status: u32, message: &[u8]) -> Result<()> {
        let Some(g) = lock(&self.world)
            .grpc
            .get(&token)
            .filter(|g| g.host == self.host_id)
            .cloned()
        else {
            bail!("no gRPC call with token {token}");
        };
        if status == 0 {
            self.grpc_deliver(
                &g,
                Callback::GrpcReceive,
                Some(message.to_vec()),
                None,
                None,
                None,
            );
        } else {
            self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(status));
        }
        if !g.is_stream {
            lock(&self.world).grpc.remove(&token);
        }
        Ok(())
    }

    /// Delivers to a gRPC stream: initial metadata, a message, trailing metadata or close.
    pub fn grpc_stream_event(&mut self, token: u32, event: GrpcEvent) -> Result<()> {
        let Some(g) = lock(&self.world)
            .grpc
            .get(&token)
            .filter(|g| g.host == self.host_id)
            .cloned()
        else {
            bail!("no gRPC stream with token {token}");
        };
        match event {
            GrpcEvent::InitialMetadata(md) => self.grpc_deliver(
                &g,
                Callback::GrpcInitialMetadata,
                None,
                Some(md),
                None,
                None,
            ),
            GrpcEvent::Message(m) => {
                self.grpc_deliver(&g, Callback::GrpcReceive, Some(m), None, None, None)
            }
            GrpcEvent::TrailingMetadata(md) => self.grpc_deliver(
                &g,
                Callback::GrpcTrailingMetadata,
                None,
                None,
                Some(md),
                None,
            ),
            GrpcEvent::Close(status) => {
                self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(status));
                lock(&self.world).grpc.remove(&token);
            }
        }
        Ok(())
    }

    fn grpc_deliver(
        &mut self,
        g: &GrpcCallout,
        cb: Callback,
        msg: Option<Vec<u8>>,
        init: Option<Pairs>,
        trail: Option<Pairs>,
        close: Option<u32>,
    ) {
        let w = g.worker;
        let ctx = g.context as i32;
        let token = g.token as i32;
        let (name, args): (&'static str, Vec<i32>) = match cb {
            Callback::GrpcReceive => (
                "proxy_on_grpc_receive",
                vec![ctx, token, msg.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            Callback::GrpcInitialMetadata => (
                "proxy_on_grpc_receive_initial_metadata",
                vec![ctx, token, init.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            Callback::GrpcTrailingMetadata => (
                "proxy_on_grpc_receive_trailing_metadata",
                vec![ctx, token, trail.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            _ => (
                "proxy_on_grpc_close",
                vec![ctx, token, close.unwrap_or(0) as i32],
            ),
        };
        {
            let d = self.vms[w].store.data_mut();
            d.grpc_message = msg;
            d.grpc_initial = init;
            d.grpc_trailing = trail;
            d.status = close.map(|c| (c, String::new()));
            if let Some(c) = close {
                d.last_status_code = c;
            }
        }
        let _ = self.call(w, cb, g.context, name, &args);
        {
            let d = self.vms[w].store.data_mut();
            d.grpc_message = None;
            d.grpc_initial = None;
            d.grpc_trailing = None;
            d.status = None;
        }
        self.after_stream_effects(w, g.context);
    }

    /// `proxy_on_foreign_function` on a worker's root context.
    pub fn call_foreign_callback(&mut self, worker: usize, function_id: u32, args: &[u8]) {
        let root = self.roots[worker];
        self.vms[worker].store.data_mut().ffi_args = args.to_vec();
        let _ = self.call(
            worker,
            Callback::ForeignFunction,
            root,
            "proxy_on_foreign_function",
            &[root as i32, function_id as i32, args.len() as i32],
        );
        self.vms[worker].store.data_mut().ffi_args.clear();
        self.after_callback(worker);
    }

    // === TCP ===

    fn tcp_result(&mut self, id: StreamId, r: Cb, upstream: Option<bool>) {
        let paused = matches!(r, Cb::Ret(Some(1)));
        if let Cb::Trapped = r {
            if self.cfg.failure_policy == FailurePolicy::FailReload {
                self.schedule_reload(id.worker);
            }
            if let Some(t) = self.tcp.get_mut(&id) {
                t.filter_skipped = true;
                if self.cfg.failure_policy != FailurePolicy::FailOpen {
                    t.closed_by_host = true;
                }
            }
        }
        let Some(upstream) = upstream else { return };
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        if upstream {
            s.upstream_paused = paused;
            if !paused {
                let data = std::mem::take(&mut s.upstream);
                s.forwarded_upstream.extend(data);
            }
        } else {
            s.downstream_paused = paused;
            if !paused {
                let data = std::mem::take(&mut s.downstream);
                s.forwarded_downstream.extend(data);
            }
        }
    }

    fn tcp_resume(&mut self, id: StreamId, stream: u32) {
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        if stream == 2 {
            s.downstream_paused = false;
            let data = std::mem::take(&mut s.downstream);
            s.forwarded_downstream.extend(data);
        } else {
            s.upstream_paused = false;
            let data = std::mem::take(&mut s.upstream);
            s.forwarded_upstream.extend(data);
        }
    }

    fn tcp_data(&mut self, id: StreamId, upstream: bool, data: &[u8], eos: bool) {
        let skipped = self
            .tcp
            .get(&id)
            .is_none_or(|t| t.filter_skipped || t.closed_by_host);
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        let buf = if upstream {
            &mut s.upstream
        } else {
            &mut s.downstream
        };
        buf.extend_from_slice(data);
        let size = buf.len() as i32;
        let r = if skipped {
            Cb::Skipped
        } else if upstream {
            self.call(
                id.worker,
                Callback::UpstreamData,
                id.context,
                "proxy_on_upstream_data",
                &[id.context as i32, size, eos as i32],
            )
        } else {
            self.call(
                id.worker,
                Callback::DownstreamData,
                id.context,
                "proxy_on_downstream_data",
                &[id.context as i32, size, eos as i32],
            )
        };
        self.tcp_result(id, r, Some(upstream));
        self.after_callback(id.worker);
    }

    fn tcp_close(&mut self, id: StreamId, upstream: bool) {
        let (cb, name) = if upstream {
            (
                Callback::UpstreamClose,
                "proxy_on_upstream_connection_close",
            )
        } else {
            (
                Callback::DownstreamClose,
                "proxy_on_downstream_connection_close",
            )
        };
        let skipped = self.tcp.get(&id).is_none_or(|t| t.filter_skipped);
        if !skipped {
            // PeerType: Remote (2) — the peer closed.
            let _ = self.call(id.worker, cb, id.context, name, &[id.context as i32, 2]);
            self.after_callback(id.worker);
        }
        let both = match self.tcp.get_mut(&id) {
            Some(t) => {
                if upstream {
                    t.upstream_closed = true;
                } else {
                    t.downstream_closed = true;
                }
                t.upstream_closed && t.downstream_closed
            }
            None => false,
        };
        if both {
            let skipped = self.tcp.get(&id).is_none_or(|t| t.filter_skipped);
            if !skipped {
                let _ = self.call(
                    id.worker,
                    Callback::Done,
                    id.context,
                    "proxy_on_done",
                    &[id.context as i32],
                );
                let _ = self.call(
                    id.worker,
                    Callback::Log,
                    id.context,
                    "proxy_on_log",
                    &[id.context as i32],
                );
                let _ = self.call(
                    id.worker,
                    Callback::Delete,
                    id.context,
                    "proxy_on_delete",
                    &[id.context as i32],
                );
            }
            let d = self.vms[id.worker].store.data_mut();
            let state = d.tcp.remove(&id.context);
            d.contexts.remove(&id.context);
            if let (Some(t), Some(s)) = (self.tcp.get_mut(&id), state) {
                t.state = s;
                t.deleted = true;
            }
        }
    }

    fn tcp_record(&self, id: StreamId) -> TcpRecord {
        let mut rec = self.tcp.get(&id).cloned().unwrap_or_default();
        if let Some(s) = self.vms[id.worker].store.data().tcp.get(&id.context) {
            rec.state = s.clone();
        }
        rec
    }
}

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

/// gRPC stream events a test can deliver.
#[derive(Debug, Clone)]
pub enum GrpcEvent {
    InitialMetadata(Vec<(String, String)>),
    Message(Vec<u8>),
    TrailingMetadata(Vec<(String, String)>),
    Close(u32),
}

// === HTTP request builder and stream handle ===

/// A request being built: headers and per-stream properties, then [`HttpRequest::send_headers`].
#[derive(Debug)]
pub struct HttpRequest<'h> {
    host: &'h mut Host,
    worker: usize,
    headers: Pairs,
    properties: Vec<(String, Vec<u8>)>,
}

impl<'h> HttpRequest<'h> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    /// A header whose value is arbitrary bytes (obs-text, invalid UTF-8), as Envoy accepts
    /// them; the guest reads exactly these bytes (see [`crate::abi::raw_value`]).
    pub fn header_bytes(self, k: &str, v: &[u8]) -> Self {
        self.header(k, &crate::abi::raw_value(v))
    }
    /// `:method GET`, `:scheme https`, `:path`, `:authority`.
    pub fn get(self, authority: &str, path: &str) -> Self {
        self.header(":method", "GET")
            .header(":scheme", "https")
            .header(":path", path)
            .header(":authority", authority)
    }
    /// `:method POST`, `:scheme https`, `:path`, `:authority`.
    pub fn post(self, authority: &str, path: &str) -> Self {
        self.header(":method", "POST")
            .header(":scheme", "https")
            .header(":path", path)
            .header(":authority", authority)
    }
    /// Pins the stream to a worker.
    pub fn worker(mut self, w: usize) -> Self {
        self.worker = w % self.host.cfg.workers;
        self
    }
    /// A property visible only to this stream.
    pub fn property(mut self, path: &str, v: impl Into<PropertyValue>) -> Self {
        self.properties.push((key_from_dotted(path), v.into().0));
        self
    }
    /// Sends request headers (not end of stream): creates the context, runs on_request_headers.
    pub fn send_headers(self) -> Result<HttpStream<'h>> {
        self.send(false)
    }
    /// Sends request headers with end of stream (a GET).
    pub fn send_headers_only(self) -> Result<HttpStream<'h>> {
        self.send(true)
    }
    fn send(self, eos: bool) -> Result<HttpStream<'h>> {
        let id = self
            .host
            .begin_http(self.worker, self.headers, eos, self.properties)?;
        Ok(HttpStream {
            host: self.host,
            id,
        })
    }
}

/// A live HTTP stream. Methods drive it; accessors read the recorded state.
pub struct HttpStream<'h> {
    host: &'h mut Host,
    id: StreamId,
}

impl fmt::Debug for HttpStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("record", &self.record())
            .field("host", &self.host)
            .finish()
    }
}

/// Where a direction of a stream stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Everything sent so far went through the filter.
    Continued,
    /// The filter holds the stream in this phase.
    Paused(Phase),
    /// A local response ended the stream.
    LocalResponse(LocalResponse),
    /// The stream was reset.
    Reset,
}

impl<'h> HttpStream<'h> {
    pub fn id(&self) -> StreamId {
        self.id
    }
    /// The host, e.g. to advance the clock or answer a callout mid-stream.
    pub fn host(&mut self) -> &mut Host {
        &mut *self.host
    }
    fn step(&self, side: Side) -> Step {
        let rec = self.record();
        if let Some(r) = rec.local_response {
            return Step::LocalResponse(r);
        }
        if rec.reset {
            return Step::Reset;
        }
        let d = match side {
            Side::Request => &rec.state.request,
            Side::Response => &rec.state.response,
        };
        match d.paused {
            Some(p) => Step::Paused(p),
            None if d.body_pending => Step::Paused(Phase::Headers),
            None => Step::Continued,
        }
    }
    /// The outcome of the request direction now.
    pub fn request_step(&self) -> Step {
        self.step(Side::Request)
    }
    pub fn response_step(&self) -> Step {
        self.step(Side::Response)
    }
    pub fn send_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Step {
        self.host
            .receive_body(self.id, Side::Request, chunk, end_of_stream);
        self.step(Side::Request)
    }
    pub fn send_trailers(&mut self, trailers: &[(&str, &str)]) -> Step {
        let t = trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.host.receive_trailers(self.id, Side::Request, t);
        self.step(Side::Request)
    }
    /// The upstream answers with these headers (`:status` first).
    pub fn respond_headers(
        &mut self,
        status: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Step {
        if self.host.ended(self.id) {
            return self.step(Side::Response);
        }
        let mut h: Pairs = vec![(":status".into(), status.to_string())];
        h.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        if let Some(s) = self.host.st(self.id) {
            s.response.headers = h;
            s.response.headers_received = true;
            s.response.end_stream = end_of_stream;
        }
        self.host.deliver_headers(self.id, Side::Response);
        self.step(Side::Response)
    }
    pub fn respond_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Step {
        self.host
            .receive_body(self.id, Side::Response, chunk, end_of_stream);
        self.step(Side::Response)
    }
    pub fn respond_trailers(&mut self, trailers: &[(&str, &str)]) -> Step {
        let t = trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.host.receive_trailers(self.id, Side::Response, t);
        self.step(Side::Response)
    }
    /// Ends the stream: on_done, on_log, on_delete. Returns the final record.
    pub fn finish(self) -> StreamRecord {
        self.host.end_stream(self.id);
        self.record()
    }
    /// Everything recorded about the stream (state read live from the VM).
    pub fn record(&self) -> StreamRecord {
        self.host.stream(self.id).unwrap_or_default()
    }
    /// Request headers as they are now (after filter mutations).
    pub fn request_headers(&self) -> Vec<(String, String)> {
        self.record().state.request.headers
    }
    pub fn request_header(&self, name: &str) -> Option<String> {
        find(&self.record().state.request.headers, name)
    }
    pub fn response_headers(&self) -> Vec<(String, String)> {
        self.record().state.response.headers
    }
    pub fn response_header(&self, name: &str) -> Option<String> {
        find(&self.record().state.response.headers, name)
    }
    /// Request body bytes forwarded upstream so far.
    pub fn upstream_body(&self) -> Vec<u8> {
        self.record().state.request.forwarded_body
    }
    /// Response body bytes forwarded downstream so far.
    pub fn downstream_body(&self) -> Vec<u8> {
        self.record().state.response.forwarded_body
    }
    pub fn local_response(&self) -> Option<LocalResponse> {
        self.record().local_response
    }
    /// The cluster the router sent the request to (or tried to).
    pub fn upstream_cluster(&self) -> Option<String> {
        self.record().upstream_cluster
    }
    /// The host's readable trace (see [`Host::report`]), for assertion messages.
    pub fn host_report(&self) -> String {
        self.host.report()
    }
    /// Fuel spent by this stream's callbacks.
    pub fn fuel(&self) -> u64 {
        self.record().fuel
    }
    pub fn route_cache_clears(&self) -> Vec<RouteCacheClear> {
        self.host
            .route_cache_clears()
            .into_iter()
            .filter(|c| c.worker == self.id.worker && c.context == self.id.context)
            .collect()
    }
}

fn find(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

// === TCP ===

/// Host-side record of a TCP connection.
#[derive(Debug, Clone, Default)]
pub struct TcpRecord {
    pub id: Option<StreamId>,
    pub filter_skipped: bool,
    pub closed_by_host: bool,
    /// Stream types (2 downstream, 3 upstream) the filter closed with `proxy_close_stream`.
    pub closed_by_filter: Vec<u32>,
    pub downstream_closed: bool,
    pub upstream_closed: bool,
    pub deleted: bool,
    pub state: TcpState,
}

/// A live TCP connection through a network filter.
pub struct TcpConnection<'h> {
    host: &'h mut Host,
    id: StreamId,
}

impl fmt::Debug for TcpConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnection")
            .field("record", &self.record())
            .finish()
    }
}

impl<'h> TcpConnection<'h> {
    pub fn id(&self) -> StreamId {
        self.id
    }
    pub fn host(&mut self) -> &mut Host {
        &mut *self.host
    }
    pub fn downstream_data(&mut self, data: &[u8], end_of_stream: bool) -> TcpRecord {
        self.host.tcp_data(self.id, false, data, end_of_stream);
        self.record()
    }
    pub fn upstream_data(&mut self, data: &[u8], end_of_stream: bool) -> TcpRecord {
        self.host.tcp_data(self.id, true, data, end_of_stream);
        self.record()
    }
    pub fn close_downstream(&mut self) -> TcpRecord {
        self.host.tcp_close(self.id, false);
        self.record()
    }
    pub fn close_upstream(&mut self) -> TcpRecord {
        self.host.tcp_close(self.id, true);
        self.record()
    }
    pub fn record(&self) -> TcpRecord {
        self.host.tcp_record(self.id)
    }
}
