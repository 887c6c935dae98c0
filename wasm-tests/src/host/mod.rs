//! The host: an Envoy with one wasm filter (and a router) per listener, per worker.
//!
//! [`Host`] owns the worker VMs and the per-stream records; each file here adds one
//! responsibility to it:
//!
//! - `config` / `builder`: [`HostConfig`], [`FailurePolicy`], [`HostBuilder`].
//! - `lifecycle`: VM start, root contexts, re-configuration, shutdown.
//! - `dispatch`: calling a VM, then the deferred actions and queue notifications.
//! - `failure`: failure policies after a trap.
//! - `http_stream` / `http_chain` / `routing` / `local_reply`: HTTP streams, from the test's
//!   handle through the filter chain to the router.
//! - `tcp` / `tcp_chain`: TCP connections.
//! - `clock`, `callouts`, `grpc`: the virtual clock and answers to what filters asked for.
//! - `inspect`: read-only accessors and the readable report.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use wasmtime::Linker;

use crate::module::WasmModule;
use crate::records::LocalResponse;
use crate::routes::RouteDecision;
use crate::state::{Direction, HttpState, VmData, World, lock};
use crate::vm::{CallbackCost, Vm};

mod builder;
mod callouts;
mod clock;
mod config;
mod dispatch;
mod failure;
mod forced_status;
mod grpc;
mod http_chain;
mod http_stream;
mod inspect;
mod lifecycle;
mod local_reply;
mod routing;
mod tcp;
mod tcp_chain;

pub use builder::HostBuilder;
pub use config::{FailurePolicy, HostConfig};
pub use grpc::GrpcEvent;
pub use http_stream::{HttpRequest, HttpStream, Step};
pub use inspect::Metrics;
pub use tcp::{TcpConnection, TcpRecord};

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

// === impl Host ===

impl Host {
    /// The filter's view of a live stream (gone once the stream is deleted).
    fn st(&mut self, id: StreamId) -> Option<&mut HttpState> {
        self.vms[id.worker]
            .store
            .data_mut()
            .http
            .get_mut(&id.context)
    }

    /// One direction of a live stream.
    fn dir(&mut self, id: StreamId, side: Side) -> Option<&mut Direction> {
        let s = self.st(id)?;
        Some(match side {
            Side::Request => &mut s.request,
            Side::Response => &mut s.response,
        })
    }

    /// The host's record of a stream, created on first use.
    fn rec(&mut self, id: StreamId) -> &mut StreamRecord {
        self.streams.entry(id).or_default()
    }
}
