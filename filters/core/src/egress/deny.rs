//! Why egress was denied, and what the client is told.

use std::fmt::Write as _;

/// Why an egress request or connection was denied. Each reason has a stable code (metric
/// label, audit `rule`) and a human message (audit `reason`, response body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The HTTP request has no host (`:authority` empty, or only a port).
    MissingHost,
    /// The TLS connection sent no SNI, so there is nothing to check (E-4: BlackHoleCluster).
    MissingSni,
    /// No allow-list pattern matches the host (REGISTRY_ONLY, E-3/E-4).
    UnknownHost,
    /// Some pattern matches the host, but none of its entries allows the port.
    PortNotAllowed,
    /// Not an allow-list decision: with `failureMode: closed`, audit records cannot be
    /// delivered and the buffer is full ([`crate::audit::Delivery::refuse_new_egress`]), so
    /// new egress is refused with 503. The filter builds this one itself.
    AuditUnavailable,
}

/// The status of an egress refused because audit delivery is failing (`failureMode: closed`).
pub const AUDIT_UNAVAILABLE_STATUS: u16 = 503;

impl DenyReason {
    /// A stable snake_case identifier, bounded for metric labels.
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::MissingHost => "missing_host",
            DenyReason::MissingSni => "missing_sni",
            DenyReason::UnknownHost => "unknown_host",
            DenyReason::PortNotAllowed => "port_not_allowed",
            DenyReason::AuditUnavailable => "audit_unavailable",
        }
    }

    /// A one-line explanation, for people reading logs, audit records and deny bodies.
    pub fn message(self) -> &'static str {
        match self {
            DenyReason::MissingHost => "request has no host (:authority)",
            DenyReason::MissingSni => "TLS connection has no SNI server name",
            DenyReason::UnknownHost => "host is not in the egress allow-list (REGISTRY_ONLY)",
            DenyReason::PortNotAllowed => {
                "port is not allowed for this host in the egress allow-list"
            }
            DenyReason::AuditUnavailable => {
                "audit records cannot be delivered (audit failure mode is closed)"
            }
        }
    }

    /// The body of a denied HTTP response: which target and why, on one line with a trailing
    /// newline, e.g. `egress to "evil.com:443" denied: host is not in the egress allow-list
    /// (REGISTRY_ONLY)`. `authority` is the `:authority` or SNI as received: its port is
    /// replaced by `port` and it is lowercased, as matched; it is quoted with escapes and cut
    /// at 256 bytes so a hostile Host cannot bloat or break the body. No host gives
    /// `egress denied: …`.
    pub fn body(self, authority: &str, port: u16) -> String {
        let host = super::hosts::normalize_host(authority).unwrap_or_default();
        let mut body = String::with_capacity(128);
        if host.is_empty() {
            body.push_str("egress denied: ");
        } else {
            let shown = truncate(&host, 256);
            // Writing to a String cannot fail.
            let _ = write!(body, "egress to {:?} denied: ", format!("{shown}:{port}"));
        }
        body.push_str(self.message());
        body.push('\n');
        body
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
