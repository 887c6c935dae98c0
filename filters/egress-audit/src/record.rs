//! Filling an audit record from what Envoy knows at `on_log`.

use portcullis_core::EgressDecision;
use portcullis_core::audit::{AuditRecord, Protocol, SinkLine};
use portcullis_glue::host;

use crate::root::Served;

/// What a stream remembers of its request for the record.
#[derive(Debug, Default)]
pub struct Seen {
    /// Start of the request or connection (ns since the epoch).
    pub start_nanos: u64,
    /// Host the decision was taken on (`:authority` or SNI).
    pub host: String,
    /// Gateway port.
    pub port: u16,
    /// `:method` (HTTP).
    pub method: Option<String>,
    /// `:path` as received (HTTP); redacted when recorded.
    pub path: Option<String>,
    /// `x-request-id` (HTTP; Envoy's connection manager sets it before any filter runs).
    pub request_id: Option<String>,
    /// The request headers the record includes, as received, in arrival order (HTTP).
    pub headers: Vec<(String, String)>,
}

/// Builds the JSON line of one record.
pub fn line(
    served: &Served,
    decision: &EgressDecision<'_>,
    protocol: Protocol,
    seen: &Seen,
    bytes: Option<(u64, u64)>,
) -> String {
    let mut record = AuditRecord::new(seen.start_nanos, protocol, decision, &served.config_version);
    let text = |path: &[&str]| host::property_string(path).filter(|s| !s.is_empty());
    record.source_address = text(&["source", "address"]);
    // Each property read is a host call Envoy answers by calling back into the VM to allocate
    // the copy: those that can only be empty are skipped. A TCP connection (TLS passthrough)
    // keeps both: its SNI is what the record is about.
    if served.terminates_tls || protocol == Protocol::Tcp {
        record.peer_identity = text(&["connection", "uri_san_peer_certificate"]);
        record.sni = text(&["connection", "requested_server_name"]);
    }
    record.upstream_cluster = text(&["xds", "cluster_name"]);
    record.upstream_host = text(&["upstream", "address"]);
    let now = host::now_nanos();
    record.duration_ms = Some(now.saturating_sub(seen.start_nanos) / 1_000_000);
    let redaction = served.policy.redaction();
    match protocol {
        Protocol::Http => {
            record.authority = Some(seen.host.clone());
            record.method = seen.method.clone();
            if let Some(path) = &seen.path {
                redaction.set_path(&mut record, path);
            }
            record.request_id = seen.request_id.clone();
            record.status =
                host::property_u64(&["response", "code"]).and_then(|code| u16::try_from(code).ok());
            record.bytes_in = host::property_u64(&["request", "total_size"]);
            record.bytes_out = host::property_u64(&["response", "total_size"]);
            redaction.set_headers(
                &mut record,
                seen.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
        Protocol::Tcp => {
            if let Some((bytes_in, bytes_out)) = bytes {
                record.bytes_in = Some(bytes_in);
                record.bytes_out = Some(bytes_out);
            }
        }
    }
    SinkLine::new(&record).into_string()
}
