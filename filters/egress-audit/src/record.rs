//! Filling an audit record from what Envoy knows at `on_log`.

use portcullis_core::EgressDecision;
use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use portcullis_core::audit::{AuditRecord, Event, Protocol, SinkLine};
use portcullis_glue::host;

use crate::root::{Served, Shared};

/// 64 random bits: std's random hasher keys (WASI `random_get`) over the clock.
pub fn nonce() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(host::now_nanos());
    hasher.finish()
}

/// Record ids: a random nonce per root context and configuration, and a sequence number.
/// Unique across workers and restarts without coordination (64 random bits), and carried by
/// the record's line, so a batch sent again repeats its ids: a collector deduplicates by them.
#[derive(Debug)]
pub struct RecordIds {
    nonce: u64,
    next: Cell<u64>,
}

impl RecordIds {
    /// Ids under a fresh [`nonce`].
    pub fn new() -> Self {
        RecordIds {
            nonce: nonce(),
            next: Cell::new(1),
        }
    }

    /// The next id.
    pub fn next(&self) -> String {
        let seq = self.next.get();
        self.next.set(seq + 1);
        format!("{:016x}-{seq}", self.nonce)
    }
}

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
    /// An upgrade (WebSocket over `upgrade:` or HTTP/2 extended CONNECT): a long-lived stream
    /// recorded when it opens and when it closes.
    pub upgrade: bool,
    /// Bytes from and to the client (TCP: counted by the filter).
    pub bytes: Option<(u64, u64)>,
}

/// Builds the JSON line of one record. An `open` record has what is known when the stream
/// starts; the end-of-stream fields (status, sizes, duration, upstream) wait for `close`.
pub fn line(
    served: &Served,
    shared: &Shared,
    decision: &EgressDecision<'_>,
    protocol: Protocol,
    event: Event,
    seen: &Seen,
) -> String {
    let mut record = AuditRecord::new(
        shared.ids.next(),
        seen.start_nanos,
        event,
        protocol,
        decision,
        &served.config_version,
    );
    let text = |path: &[&str]| host::property_string(path).filter(|s| !s.is_empty());
    record.source_address = text(&["source", "address"]);
    // Each property read is a host call Envoy answers by calling back into the VM to allocate
    // the copy: those that can only be empty are skipped. A TCP connection (TLS passthrough)
    // keeps both: its SNI is what the record is about.
    if served.terminates_tls || protocol == Protocol::Tcp {
        record.peer_identity = text(&["connection", "uri_san_peer_certificate"]);
        record.sni = text(&["connection", "requested_server_name"]);
    }
    let redaction = served.policy.redaction();
    if protocol == Protocol::Http {
        record.authority = Some(seen.host.clone());
        record.method = seen.method.clone();
        if let Some(path) = &seen.path {
            redaction.set_path(&mut record, path);
        }
        record.request_id = seen.request_id.clone();
        redaction.set_headers(
            &mut record,
            seen.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    if event == Event::Open {
        return SinkLine::new(&record).into_string();
    }
    record.upstream_cluster = text(&["xds", "cluster_name"]);
    record.upstream_host = text(&["upstream", "address"]);
    let now = host::now_nanos();
    record.duration_ms = Some(now.saturating_sub(seen.start_nanos) / 1_000_000);
    match protocol {
        Protocol::Http => {
            record.status =
                host::property_u64(&["response", "code"]).and_then(|code| u16::try_from(code).ok());
            record.bytes_in = host::property_u64(&["request", "total_size"]);
            record.bytes_out = host::property_u64(&["response", "total_size"]);
        }
        Protocol::Tcp => {
            if let Some((bytes_in, bytes_out)) = seen.bytes {
                record.bytes_in = Some(bytes_in);
                record.bytes_out = Some(bytes_out);
            }
        }
    }
    SinkLine::new(&record).into_string()
}
