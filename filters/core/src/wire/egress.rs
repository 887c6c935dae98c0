//! Wire types of the egress policy and the audit pipeline.

use serde::{Deserialize, Serialize};

/// Egress gateway settings: which external hosts may be reached, and where audit records go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Egress {
    /// Allowed external hosts (REGISTRY_ONLY: everything else is denied).
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedHost>,
    /// Status of a denied HTTP request: 404 by default, what Istio's egress gateway answers a
    /// host it has no route for (E-4).
    #[serde(default = "default_deny_status")]
    pub deny_status: u16,
    /// Whether a denied HTTP request's answer says why: a plain-text body and an
    /// `x-portcullis-egress-denied: <reason>` header. Off by default: Istio's answer is bare.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explain_denials: bool,
    /// Audit record settings.
    #[serde(default)]
    pub audit: Audit,
    /// The ports whose servers all pass TLS through. No HTTP is ever seen there, so they have
    /// no entry in `listeners`; the network filter finds a connection's Gateway port here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passthrough_ports: Vec<PortBinding>,
}

/// A Gateway server port and the port Envoy binds for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PortBinding {
    /// The Gateway server port as written, the port egress rules name.
    pub port: u16,
    /// The port Envoy listens on, when it differs from `port` (see [`super::Listener`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
}

impl PortBinding {
    /// The port Envoy listens on for this Gateway port.
    pub fn effective_bind_port(&self) -> u16 {
        self.bind_port.unwrap_or(self.port)
    }
}

fn default_deny_status() -> u16 {
    404
}

/// One allowed external host and the resource that allowed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AllowedHost {
    /// Host pattern: exact, `*.suffix` or `*` (lowercased).
    pub host: String,
    /// Allowed ports; empty means any port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// The rule that allowed it, e.g. `ServiceEntry default/httpbin-ext`; recorded in audits.
    pub rule: String,
}

/// Audit settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Audit {
    /// Where records go.
    #[serde(default)]
    pub sink: AuditSink,
    /// `closed` refuses new egress while records cannot be delivered; `open` lets it through.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Keep the query string in the recorded path (default: redacted).
    #[serde(default)]
    pub include_query: bool,
    /// Request headers copied into the record (lowercase names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_headers: Vec<String>,
    /// Headers whose values are replaced by `[REDACTED]` when included
    /// (default: authorization, cookie, proxy-authorization, set-cookie, x-api-key).
    #[serde(default = "default_redact_headers")]
    pub redact_headers: Vec<String>,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            sink: AuditSink::default(),
            failure_mode: FailureMode::default(),
            include_query: false,
            include_headers: Vec::new(),
            redact_headers: default_redact_headers(),
        }
    }
}

fn default_redact_headers() -> Vec<String> {
    [
        "authorization",
        "cookie",
        "proxy-authorization",
        "set-cookie",
        "x-api-key",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Destination of audit records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AuditSink {
    /// Envoy's log, one JSON line per record at info level.
    #[default]
    Log,
    /// An HTTP collector receiving batches of JSON Lines by POST.
    Http(HttpCollector),
}

/// An HTTP collector reached through an Envoy cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpCollector {
    /// Envoy cluster of the collector.
    pub cluster: String,
    /// `:authority` of the POST.
    pub authority: String,
    /// `:path` of the POST.
    #[serde(default = "default_collector_path")]
    pub path: String,
    /// Records per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Flush period in milliseconds.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u32,
    /// Records held while the collector is unreachable; older ones are dropped beyond this.
    #[serde(default = "default_max_buffered")]
    pub max_buffered: u32,
    /// Bytes of records held (in flight included); the oldest are dropped beyond this, so a
    /// burst of large records cannot grow the VM's memory without bound. A single record
    /// larger than this is dropped (and counted).
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: u32,
    /// Timeout of one POST in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// First retry delay in milliseconds; doubled after each failure up to `max_backoff_ms`.
    #[serde(default = "default_backoff_ms")]
    pub initial_backoff_ms: u32,
    /// Ceiling of the retry delay in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u32,
}

fn default_collector_path() -> String {
    "/v1/audit".to_string()
}
fn default_batch_size() -> u32 {
    100
}
fn default_flush_ms() -> u32 {
    1000
}
fn default_max_buffered() -> u32 {
    10_000
}
fn default_max_buffered_bytes() -> u32 {
    16 * 1024 * 1024
}
fn default_timeout_ms() -> u32 {
    5000
}
fn default_backoff_ms() -> u32 {
    500
}
fn default_max_backoff_ms() -> u32 {
    30_000
}

/// Behaviour while audit records cannot be delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum FailureMode {
    /// Keep serving egress; records beyond the buffer are dropped and counted.
    #[default]
    Open,
    /// Refuse new egress (503) while the collector is failing and the buffer is full.
    Closed,
}
