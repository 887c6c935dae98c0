//! The audit record of one egress request or connection, and its JSON Lines form.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::time::rfc3339_millis;
use crate::EgressDecision;

/// One audit record. Serialised by [`AuditRecord::to_json_line`] as a single JSON object on
/// one line, keys always present and always in this order:
///
/// | key | type | meaning |
/// | --- | --- | --- |
/// | `id` | string | unique per record (`<16 hex digits of the worker's nonce>-<sequence>`), the same when a batch is sent again: a collector deduplicates by it |
/// | `time` | string | start of the request, RFC 3339 UTC, milliseconds (`2026-01-02T03:04:05.678Z`) |
/// | `event` | `"request"`\|`"open"`\|`"close"` | an HTTP request, at its end; a connection or upgraded stream (WebSocket) that began (its `close` record follows) or ended |
/// | `request_id` | string\|null | `x-request-id` |
/// | `protocol` | `"http"`\|`"tcp"` | HTTP filter or TLS passthrough network filter |
/// | `source_address` | string\|null | downstream remote address (`ip:port`) |
/// | `peer_identity` | string\|null | client identity, e.g. the SPIFFE URI SAN |
/// | `sni` | string\|null | TLS server name |
/// | `authority` | string\|null | `:authority` as received |
/// | `method` | string\|null | `:method` |
/// | `path` | string\|null | `:path`, query redacted unless `includeQuery` (`/p?[REDACTED]`) |
/// | `status` | number\|null | HTTP response status; null for tcp |
/// | `response_flags` | string\|null | Envoy response flags (`NR`, `UH`, …) |
/// | `bytes_in` | number\|null | bytes received from the client |
/// | `bytes_out` | number\|null | bytes sent to the client |
/// | `duration_ms` | number\|null | request or connection duration |
/// | `upstream_cluster` | string\|null | e.g. `outbound\|443\|\|api.example.com` |
/// | `upstream_host` | string\|null | upstream address |
/// | `decision` | `"allowed"`\|`"denied"` | the egress decision |
/// | `rule` | string | allow rule (`ServiceEntry ns/name`) or deny reason code (`unknown_host`) |
/// | `reason` | string | why: the matched pattern, or the deny message |
/// | `config_version` | string | wire config identity |
/// | `headers` | object | selected request headers (lowercase names, sorted), redacted values `[REDACTED]` |
///
/// `path` and `headers` are set only through [`super::Redaction`], so redaction cannot be
/// skipped; every other field is public. What comes from the configuration (`rule`, `reason`,
/// `config_version`) is borrowed from it for `'c`, not copied into every record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord<'c> {
    /// Unique per record, kept when its batch is sent again.
    pub id: String,
    /// RFC 3339 UTC time with milliseconds.
    pub time: String,
    /// What the record is about: a request, or the opening or closing of a connection.
    pub event: Event,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// Which filter made the record.
    pub protocol: Protocol,
    /// Downstream remote address.
    pub source_address: Option<String>,
    /// Client identity (SPIFFE URI SAN of the client certificate).
    pub peer_identity: Option<String>,
    /// TLS server name.
    pub sni: Option<String>,
    /// `:authority` as received.
    pub authority: Option<String>,
    /// `:method`.
    pub method: Option<String>,
    /// `:path` after redaction (see [`super::Redaction::set_path`]).
    pub(super) path: Option<String>,
    /// HTTP response status.
    pub status: Option<u16>,
    /// Envoy response flags.
    pub response_flags: Option<String>,
    /// Bytes received from the client.
    pub bytes_in: Option<u64>,
    /// Bytes sent to the client.
    pub bytes_out: Option<u64>,
    /// Duration in milliseconds.
    pub duration_ms: Option<u64>,
    /// Upstream cluster name.
    pub upstream_cluster: Option<String>,
    /// Upstream host address.
    pub upstream_host: Option<String>,
    /// The egress decision.
    pub decision: Verdict,
    /// Allow rule, or deny reason code.
    pub rule: &'c str,
    /// Matched pattern, or deny message.
    pub reason: Cow<'c, str>,
    /// Wire config identity.
    pub config_version: &'c str,
    /// Selected, redacted request headers (see [`super::Redaction::set_headers`]).
    pub(super) headers: BTreeMap<String, String>,
}

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// An HTTP request, recorded when it ends.
    Request,
    /// A long-lived connection or upgraded stream began; a `close` record follows.
    Open,
    /// A connection or upgraded stream ended (or was refused).
    Close,
}

/// Which filter made a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The HTTP egress filter.
    Http,
    /// The TLS passthrough (SNI) network filter.
    Tcp,
}

/// The egress decision, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let through.
    Allowed,
    /// Refused.
    Denied,
}

impl<'c> AuditRecord<'c> {
    /// A record `id` of `event` for `decision`, made at `unix_nanos` (the caller's clock)
    /// under config `config_version`. Fills `id`, `time`, `event`, `protocol`, `decision`,
    /// `rule`, `reason` and `config_version`; everything else starts unknown (null) and is
    /// filled by the filter.
    pub fn new(
        id: String,
        unix_nanos: u64,
        event: Event,
        protocol: Protocol,
        decision: &EgressDecision<'c>,
        config_version: &'c str,
    ) -> Self {
        let (verdict, rule, reason) = match *decision {
            EgressDecision::Allowed { rule, host_pattern } => (
                Verdict::Allowed,
                rule,
                Cow::Owned(format!("host matches allow-list pattern {host_pattern:?}")),
            ),
            EgressDecision::Denied { reason } => (
                Verdict::Denied,
                reason.code(),
                Cow::Borrowed(reason.message()),
            ),
        };
        AuditRecord {
            id,
            time: rfc3339_millis(unix_nanos),
            event,
            request_id: None,
            protocol,
            source_address: None,
            peer_identity: None,
            sni: None,
            authority: None,
            method: None,
            path: None,
            status: None,
            response_flags: None,
            bytes_in: None,
            bytes_out: None,
            duration_ms: None,
            upstream_cluster: None,
            upstream_host: None,
            decision: verdict,
            rule,
            reason,
            config_version,
            headers: BTreeMap::new(),
        }
    }

    /// The recorded (redacted) path.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The recorded (selected, redacted) headers.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }

    /// The record as one line of JSON, without a trailing newline. JSON escapes control
    /// characters, so the line never contains `\n` whatever the request carried.
    pub fn to_json_line(&self) -> String {
        // Strings, integers, enums and a string map always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}
