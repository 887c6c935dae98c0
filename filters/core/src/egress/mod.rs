//! The egress policy: a REGISTRY_ONLY allow-list of external hosts (E-3, E-4), compiled once
//! from the wire `egress` section and consulted per request (HTTP) or per connection (TLS
//! passthrough, by SNI).
//!
//! Matching, per Istio's per-port route tables: the port selects which entries take part (an
//! entry with no ports takes part on every port), then the host selects the most specific of
//! them: exact name, then the longest `*.suffix`, then `*` (G-9). An entry that matches the
//! host but not the port therefore does not hide a less specific one that allows the port:
//! with `api.example.com` on 80 and `*.example.com` on 443, `api.example.com:443` is allowed
//! by the wildcard, as a sidecar's `outbound|443` route table would.

mod deny;
mod hosts;

pub use deny::{AUDIT_UNAVAILABLE_STATUS, DenyReason};

use crate::ConfigError;
use crate::audit::Redaction;
use crate::host::HostIndex;
use crate::wire::{Audit, Egress, FailureMode, WireConfig};

/// The compiled egress section. Immutable; shared by every request of a filter instance.
#[derive(Debug)]
pub struct EgressPolicy {
    entries: Vec<Entry>,
    /// Pattern → indices of the entries listing it, in wire order.
    table: HostIndex<Vec<usize>>,
    deny_status: u16,
    explain_denials: bool,
    audit: Audit,
    redaction: Redaction,
}

/// What the client of a denied HTTP request is sent (E-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The status.
    pub status: u16,
    /// `x-portcullis-egress-denied: <reason code>`, when the answer says why.
    pub header: Option<(&'static str, &'static str)>,
    /// A plain-text body saying which target and why ([`DenyReason::body`]), when the answer
    /// says why.
    pub body: Option<String>,
}

/// The response header naming the reason of an explained denial.
pub const DENIED_HEADER: &str = "x-portcullis-egress-denied";

/// One allow-list entry, as written.
#[derive(Debug)]
struct Entry {
    /// The pattern as written (lowercased): the evidence of a match.
    pattern: String,
    /// Allowed ports; empty means any.
    ports: Vec<u16>,
    /// The resource that allowed it.
    rule: String,
}

impl Entry {
    fn allows_port(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&port)
    }
}

/// Outcome of an egress check, with its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgressDecision<'p> {
    /// An allow-list entry admits the host and port.
    Allowed {
        /// The rule that allowed it (`AllowedHost.rule`, e.g. `ServiceEntry default/httpbin`).
        rule: &'p str,
        /// The host pattern that matched (`api.example.com`, `*.example.com` or `*`).
        host_pattern: &'p str,
    },
    /// No entry admits it.
    Denied {
        /// Why.
        reason: DenyReason,
    },
}

impl EgressDecision<'_> {
    /// True for [`EgressDecision::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, EgressDecision::Allowed { .. })
    }

    /// The deny reason, if denied.
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self {
            EgressDecision::Allowed { .. } => None,
            EgressDecision::Denied { reason } => Some(*reason),
        }
    }
}

impl EgressPolicy {
    /// The egress filter's compile step in `on_configure`: the `egress` section of `config`,
    /// which that filter cannot run without (an ingress config has none).
    pub fn from_wire(config: &WireConfig) -> Result<Self, ConfigError> {
        let egress = config.egress.as_ref().ok_or_else(|| ConfigError::Invalid {
            at: "egress".to_string(),
            reason: "the egress filter needs an `egress` section".to_string(),
        })?;
        Self::compile(egress)
    }

    /// Validates and compiles the egress section. Errors name the field, e.g.
    /// `egress.allowedHosts[2].host`, `egress.denyStatus`, `egress.audit.sink.http.batchSize`.
    pub(crate) fn compile(egress: &Egress) -> Result<Self, ConfigError> {
        if !(200..=599).contains(&egress.deny_status) {
            return Err(ConfigError::Invalid {
                at: "egress.denyStatus".to_string(),
                reason: format!("{} is not an HTTP status in 200..=599", egress.deny_status),
            });
        }
        let mut entries = Vec::with_capacity(egress.allowed_hosts.len());
        let mut table: HostIndex<Vec<usize>> = HostIndex::new();
        for (i, allowed) in egress.allowed_hosts.iter().enumerate() {
            let at = format!("egress.allowedHosts[{i}]");
            let pattern =
                hosts::parse_pattern(&allowed.host).map_err(|reason| ConfigError::InvalidHost {
                    at: format!("{at}.host"),
                    pattern: allowed.host.clone(),
                    reason,
                })?;
            if let Some(j) = allowed.ports.iter().position(|p| *p == 0) {
                return Err(ConfigError::Invalid {
                    at: format!("{at}.ports[{j}]"),
                    reason: "port 0 is not a valid port".to_string(),
                });
            }
            if allowed.rule.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    at: format!("{at}.rule"),
                    reason: "empty rule: audit records must name what allowed the host".to_string(),
                });
            }
            let index = entries.len();
            if let Err(mut first) = table.insert(&pattern, vec![index]) {
                // The pattern is listed again (another rule, other ports): keep both entries.
                if let Some(indices) = table.get_mut(&pattern) {
                    indices.append(&mut first);
                }
            }
            entries.push(Entry {
                pattern: allowed.host.to_ascii_lowercase(),
                ports: allowed.ports.clone(),
                rule: allowed.rule.clone(),
            });
        }
        let redaction = Redaction::compile(&egress.audit, "egress.audit")?;
        crate::audit::validate_sink(&egress.audit.sink, "egress.audit.sink")?;
        Ok(EgressPolicy {
            entries,
            table,
            deny_status: egress.deny_status,
            explain_denials: egress.explain_denials,
            audit: egress.audit.clone(),
            redaction,
        })
    }

    /// Checks an HTTP request. `authority` is the `:authority`/Host as received (a port in it
    /// is ignored, S-2); `port` is the destination port the request is for, chosen by the
    /// caller (the port the client targeted, as the sidecar's per-port listener would see it).
    pub fn decide_http(&self, authority: &str, port: u16) -> EgressDecision<'_> {
        match hosts::normalize_host(authority) {
            None => EgressDecision::Denied {
                reason: DenyReason::MissingHost,
            },
            Some(host) => self.decide_host(&host, port),
        }
    }

    /// Checks a TLS passthrough connection by its SNI (network filter). Same rules as
    /// [`EgressPolicy::decide_http`] on the server name; no SNI (or an empty one) is denied,
    /// as Istio sends such connections to the BlackHoleCluster under REGISTRY_ONLY (E-4).
    pub fn decide_sni(&self, sni: Option<&str>, port: u16) -> EgressDecision<'_> {
        match sni.and_then(hosts::normalize_host) {
            None => EgressDecision::Denied {
                reason: DenyReason::MissingSni,
            },
            Some(host) => self.decide_host(&host, port),
        }
    }

    fn decide_host(&self, host: &str, port: u16) -> EgressDecision<'_> {
        let mut host_matched = false;
        for group in self.table.matches(host) {
            host_matched = true;
            // Within one pattern, the first entry in wire order that allows the port wins.
            let found = group
                .value
                .iter()
                .filter_map(|i| self.entries.get(*i))
                .find(|entry| entry.allows_port(port));
            if let Some(entry) = found {
                return EgressDecision::Allowed {
                    rule: &entry.rule,
                    host_pattern: &entry.pattern,
                };
            }
        }
        let reason = if host_matched {
            DenyReason::PortNotAllowed
        } else {
            DenyReason::UnknownHost
        };
        EgressDecision::Denied { reason }
    }

    /// The answer to a denied HTTP request for `authority` (as received) on `port`. An
    /// allow-list denial gets `denyStatus` (404 by default, Istio's egress gateway answer to a
    /// host it has no route for) with an empty body, or with `explainDenials` the reason in a
    /// header and a body. [`DenyReason::AuditUnavailable`] is not the allow-list's answer and
    /// always says why (503, body only).
    pub fn denial(&self, reason: DenyReason, authority: &str, port: u16) -> Denial {
        let status = self.status_for(reason);
        match reason {
            DenyReason::AuditUnavailable => Denial {
                status,
                header: None,
                body: Some(reason.body(authority, port)),
            },
            _ if self.explain_denials => Denial {
                status,
                header: Some((DENIED_HEADER, reason.code())),
                body: Some(reason.body(authority, port)),
            },
            _ => Denial {
                status,
                header: None,
                body: None,
            },
        }
    }

    /// Status of a denied HTTP request (`denyStatus`, 404 by default as at Istio's egress
    /// gateway, E-4).
    pub fn deny_status(&self) -> u16 {
        self.deny_status
    }

    /// The HTTP status for a denial: [`AUDIT_UNAVAILABLE_STATUS`] (503) for
    /// [`DenyReason::AuditUnavailable`], [`EgressPolicy::deny_status`] for every allow-list
    /// reason.
    pub fn status_for(&self, reason: DenyReason) -> u16 {
        match reason {
            DenyReason::AuditUnavailable => AUDIT_UNAVAILABLE_STATUS,
            DenyReason::MissingHost
            | DenyReason::MissingSni
            | DenyReason::UnknownHost
            | DenyReason::PortNotAllowed => self.deny_status,
        }
    }

    /// The audit settings as written in the wire config (sink, failure mode, redaction lists).
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The audit redaction rules compiled from [`EgressPolicy::audit`]; the only way to put a
    /// path or headers into an [`crate::audit::AuditRecord`].
    pub fn redaction(&self) -> &Redaction {
        &self.redaction
    }

    /// What to do while audit records cannot be delivered.
    pub fn failure_mode(&self) -> FailureMode {
        self.audit.failure_mode
    }
}
