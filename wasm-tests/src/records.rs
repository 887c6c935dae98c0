//! What the host records for tests to read back.

use crate::abi::LogLevel;

/// One `proxy_log` call or one WASI write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The plugin (`plugin_name`) whose VM logged it.
    pub plugin: String,
    pub worker: usize,
    pub context: u32,
    pub level: LogLevel,
    pub message: String,
}

/// A local reply: from `proxy_send_local_response`, the router (NC) or the host (413/500/503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub details: String,
    pub grpc_status: Option<u32>,
    /// Envoy response flags, e.g. "NC" for cluster not found.
    pub flags: Vec<String>,
    pub source: ReplySource,
}

impl LocalResponse {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Who produced a local reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplySource {
    Filter,
    Router,
    BufferLimit,
    VmFailure,
}

/// A pending or finished HTTP callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallout {
    pub token: u32,
    /// The host (plugin) that made the call, within a shared process.
    pub host: u32,
    pub worker: usize,
    pub context: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub timeout_ms: u32,
    /// Virtual time (ms) at which the call times out; `None` means no timeout (0 ms).
    pub deadline_ms: Option<u64>,
}

impl HttpCallout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A gRPC call or stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCallout {
    pub token: u32,
    pub host: u32,
    pub worker: usize,
    pub context: u32,
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub initial_metadata: Vec<(String, String)>,
    /// The request message (call) or every message sent (stream).
    pub messages: Vec<Vec<u8>>,
    pub is_stream: bool,
    pub timeout_ms: u32,
    /// Virtual time (ms) at which a unary call fails with DEADLINE_EXCEEDED (4).
    pub deadline_ms: Option<u64>,
    pub local_closed: bool,
    pub cancelled: bool,
}

/// Metric kinds (`proxy_metric_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One defined metric, shared by every VM of the host as Envoy stats are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    pub value: i64,
    pub samples: Vec<u64>,
}

/// Why the route cache was cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearReason {
    /// ABI <= 0.2.1: Envoy clears it on any request-header mutation (PR #14318).
    HeaderMutation,
    /// The `clear_route_cache` foreign function.
    ForeignFunction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCacheClear {
    pub host: u32,
    pub worker: usize,
    pub context: u32,
    pub reason: ClearReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCall {
    pub host: u32,
    pub worker: usize,
    pub context: u32,
    pub name: String,
    pub args: Vec<u8>,
    pub status: u32,
}

/// One host call as the guest made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    pub worker: usize,
    pub context: u32,
    pub name: &'static str,
    pub detail: String,
    pub status: u32,
}

/// A trap or a failed start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFailure {
    pub worker: usize,
    pub callback: String,
    pub message: String,
}
