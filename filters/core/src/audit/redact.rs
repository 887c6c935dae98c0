//! Redaction rules: what of a request's path and headers may enter an audit record.
//!
//! [`AuditRecord`]'s `path` and `headers` can only be set through [`Redaction`], so a filter
//! cannot record a query string or a secret header by forgetting a step.

use std::collections::{BTreeMap, BTreeSet};

use super::AuditRecord;
use crate::ConfigError;
use crate::wire::Audit;

/// Replaces the query string of a recorded path unless `includeQuery` is set: `/p?a=1` is
/// recorded as `/p?[REDACTED]`. The `?` is kept so a reader knows a query was present.
pub const REDACTED_QUERY: &str = "[REDACTED]";

/// Replaces the value of a recorded header listed in `redactHeaders`.
pub const REDACTED_VALUE: &str = "[REDACTED]";

/// The compiled audit redaction settings (`includeQuery`, `includeHeaders`, `redactHeaders`).
/// Header names are compared case-insensitively (stored lowercase).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redaction {
    include_query: bool,
    include_headers: BTreeSet<String>,
    redact_headers: BTreeSet<String>,
}

impl Redaction {
    /// Validates and compiles the settings. `at` is the field path of the audit section
    /// (`egress.audit`), used in errors such as `egress.audit.includeHeaders[1]`.
    pub(crate) fn compile(audit: &Audit, at: &str) -> Result<Self, ConfigError> {
        Ok(Redaction {
            include_query: audit.include_query,
            include_headers: header_set(&audit.include_headers, &format!("{at}.includeHeaders"))?,
            redact_headers: header_set(&audit.redact_headers, &format!("{at}.redactHeaders"))?,
        })
    }

    /// Header names (lowercase, sorted) the filter should read from the request for the record.
    pub fn included_headers(&self) -> impl Iterator<Item = &str> {
        self.include_headers.iter().map(String::as_str)
    }

    /// Whether the record includes request header `name` (lowercase, as Envoy's header map
    /// names are).
    pub fn includes(&self, name: &str) -> bool {
        self.include_headers.contains(name)
    }

    /// The path as it may be recorded: unchanged with `includeQuery`, otherwise a non-empty
    /// query is replaced by [`REDACTED_QUERY`] (`/p?a=1` → `/p?[REDACTED]`; `/p` and `/p?`
    /// are unchanged).
    pub fn path(&self, raw: &str) -> String {
        match raw.split_once('?') {
            Some((path, query)) if !self.include_query && !query.is_empty() => {
                format!("{path}?{REDACTED_QUERY}")
            }
            _ => raw.to_string(),
        }
    }

    /// The headers that may be recorded: only names in `includeHeaders` (case-insensitive),
    /// values of names in `redactHeaders` replaced by [`REDACTED_VALUE`]. Repeated headers are
    /// joined with `, ` in arrival order.
    pub fn headers<'h>(
        &self,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    ) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        if self.include_headers.is_empty() {
            return out;
        }
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if !self.include_headers.contains(&name) {
                continue;
            }
            let value = if self.redact_headers.contains(&name) {
                REDACTED_VALUE
            } else {
                value
            };
            match out.get_mut(&name) {
                // One marker is enough for a redacted header seen twice.
                Some(_) if self.redact_headers.contains(&name) => {}
                Some(existing) => {
                    existing.push_str(", ");
                    existing.push_str(value);
                }
                None => {
                    out.insert(name, value.to_string());
                }
            }
        }
        out
    }

    /// Records `raw_path` in `record` after redaction.
    pub fn set_path(&self, record: &mut AuditRecord<'_>, raw_path: &str) {
        record.path = Some(self.path(raw_path));
    }

    /// Records the selected, redacted `headers` in `record` (replacing any recorded before).
    pub fn set_headers<'h>(
        &self,
        record: &mut AuditRecord<'_>,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    ) {
        record.headers = self.headers(headers);
    }
}

/// Lowercases and validates header names (RFC 9110 tokens; a leading `:` for pseudo-headers).
fn header_set(names: &[String], at: &str) -> Result<BTreeSet<String>, ConfigError> {
    let mut set = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let bare = name.strip_prefix(':').unwrap_or(name);
        let valid = !bare.is_empty()
            && bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(ConfigError::Invalid {
                at: format!("{at}[{i}]"),
                reason: format!("{name:?} is not a valid header name"),
            });
        }
        set.insert(name.to_ascii_lowercase());
    }
    Ok(set)
}
