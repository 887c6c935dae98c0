//! State shared by the VMs of one host (`World`) and the per-VM store data (`VmData`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime::{Memory, StoreLimits};

use crate::abi::LogLevel;
use crate::module::AbiVersion;
use crate::records::*;

pub(crate) type Pairs = Vec<(String, String)>;

/// Locks a mutex, ignoring poisoning: a panicking test must not hide the state it left.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Virtual wall clock at host start: 2026-01-01T00:00:00Z.
pub(crate) const EPOCH_NS: u64 = 1_767_225_600_000_000_000;

#[derive(Debug)]
pub(crate) struct Queue {
    pub host: u32,
    pub vm_id: String,
    pub name: String,
    pub worker: usize,
    pub root_context: u32,
    pub items: VecDeque<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notify {
    QueueReady {
        host: u32,
        worker: usize,
        root_context: u32,
        queue_id: u32,
    },
}

/// Everything the VMs of one host share: the "process" in Envoy terms.
#[derive(Debug)]
pub(crate) struct World {
    pub elapsed_ns: u64,
    pub rng: u64,
    pub log_level: LogLevel,
    pub shared_data: HashMap<(String, String), (Vec<u8>, u32)>,
    pub next_cas: u32,
    pub queues: Vec<Queue>,
    pub notify: Vec<Notify>,
    pub metrics: Vec<Metric>,
    pub logs: Vec<LogEntry>,
    pub callouts: BTreeMap<u32, HttpCallout>,
    pub next_http_token: u32,
    pub grpc: BTreeMap<u32, GrpcCallout>,
    pub next_grpc_call: u32,
    pub next_grpc_stream: u32,
    pub clusters: Vec<String>,
    pub properties: BTreeMap<String, Vec<u8>>,
    pub route_clears: Vec<RouteCacheClear>,
    pub foreign_calls: Vec<ForeignCall>,
    pub strict: Option<Vec<String>>,
    /// Host calls answered with a fixed status instead of being carried out (by import name).
    pub forced_statuses: BTreeMap<String, u32>,
    pub violations: Vec<String>,
    pub trace: Vec<HostCall>,
    pub failures: Vec<VmFailure>,
    pub next_host_id: u32,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            elapsed_ns: 0,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            log_level: LogLevel::Trace,
            shared_data: HashMap::new(),
            next_cas: 0,
            queues: Vec::new(),
            notify: Vec::new(),
            metrics: Vec::new(),
            logs: Vec::new(),
            callouts: BTreeMap::new(),
            next_http_token: 0,
            grpc: BTreeMap::new(),
            next_grpc_call: 1,
            next_grpc_stream: 2,
            clusters: Vec::new(),
            properties: BTreeMap::new(),
            route_clears: Vec::new(),
            foreign_calls: Vec::new(),
            strict: None,
            forced_statuses: BTreeMap::new(),
            violations: Vec::new(),
            trace: Vec::new(),
            failures: Vec::new(),
            next_host_id: 0,
        }
    }

    /// splitmix64: deterministic for a seed.
    pub fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn now_ns(&self) -> u64 {
        EPOCH_NS + self.elapsed_ns
    }

    pub fn now_ms(&self) -> u64 {
        self.elapsed_ns / 1_000_000
    }

    pub fn knows_cluster(&self, name: &str) -> bool {
        self.clusters.iter().any(|c| c == name)
    }
}

/// Which callback is running; decides which buffers and maps are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    None,
    Initialize,
    ContextCreate,
    VmStart,
    Configure,
    Tick,
    QueueReady,
    HttpCallResponse,
    GrpcInitialMetadata,
    GrpcReceive,
    GrpcTrailingMetadata,
    GrpcClose,
    ForeignFunction,
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    NewConnection,
    DownstreamData,
    UpstreamData,
    DownstreamClose,
    UpstreamClose,
    Done,
    Log,
    Delete,
}

/// One direction (request or response) of an HTTP stream as the filter sees it.
#[derive(Debug, Default, Clone)]
pub struct Direction {
    pub headers: Pairs,
    pub headers_received: bool,
    /// Envoy keeps the map pointer only while the headers callback runs or stays paused.
    pub headers_open: bool,
    pub headers_forwarded: bool,
    pub trailers: Option<Pairs>,
    pub trailers_open: bool,
    pub trailers_forwarded: bool,
    /// Body bytes held by the filter (the current chunk, or everything buffered while paused).
    pub body: Vec<u8>,
    pub body_open: bool,
    pub forwarded_body: Vec<u8>,
    pub end_stream: bool,
    pub paused: Option<Phase>,
    /// Body arrived while paused in headers (StopAll): delivered on resume.
    pub body_pending: bool,
    pub trailers_pending: bool,
    pub complete: bool,
}

/// Which callback a direction is paused in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Headers,
    Body,
    Trailers,
}

/// Per-stream HTTP state kept in the VM's store.
#[derive(Debug, Default, Clone)]
pub struct HttpState {
    pub root: u32,
    pub request: Direction,
    pub response: Direction,
    pub log_phase: bool,
    pub pending_local_reply: Option<LocalResponse>,
    pub properties: BTreeMap<String, Vec<u8>>,
}

/// Per-connection TCP state.
#[derive(Debug, Default, Clone)]
pub struct TcpState {
    pub root: u32,
    pub downstream: Vec<u8>,
    pub upstream: Vec<u8>,
    pub forwarded_downstream: Vec<u8>,
    pub forwarded_upstream: Vec<u8>,
    pub downstream_paused: bool,
    pub upstream_paused: bool,
    pub properties: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Deferred {
    Continue { context: u32, stream: u32 },
    Close { context: u32, stream: u32 },
    Done { context: u32 },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CallResponse {
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
}

/// The data of one VM's store.
#[derive(Debug)]
pub(crate) struct VmData {
    pub world: Arc<Mutex<World>>,
    pub host_id: u32,
    pub worker: usize,
    pub vm_id: String,
    pub abi: AbiVersion,
    pub limits: StoreLimits,
    pub memory: Option<Memory>,
    pub vm_config: Vec<u8>,
    pub plugin_config: Vec<u8>,
    pub env: Vec<(String, String)>,
    pub cb: Callback,
    pub active: u32,
    /// context id -> parent id (0 for root contexts).
    pub contexts: BTreeMap<u32, u32>,
    pub http: BTreeMap<u32, HttpState>,
    pub tcp: BTreeMap<u32, TcpState>,
    /// root context -> (period ms, next due in virtual ms).
    pub ticks: BTreeMap<u32, (u64, u64)>,
    pub root_properties: BTreeMap<String, Vec<u8>>,
    pub ffi_args: Vec<u8>,
    pub call_response: Option<CallResponse>,
    pub grpc_message: Option<Vec<u8>>,
    pub grpc_initial: Option<Pairs>,
    pub grpc_trailing: Option<Pairs>,
    pub status: Option<(u32, String)>,
    /// Envoy keeps the last status code on the root context.
    pub last_status_code: u32,
    pub deferred: Vec<Deferred>,
    pub exit_code: Option<i32>,
    pub pending_done: Vec<u32>,
    pub plugin_name: String,
    pub root_id: String,
}

impl VmData {
    /// The context the current host call acts on.
    pub fn root_of(&self, context: u32) -> u32 {
        match self.contexts.get(&context) {
            Some(0) | None => context,
            Some(parent) => *parent,
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}
