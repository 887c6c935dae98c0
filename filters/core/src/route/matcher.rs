//! The compiled match conditions of one route (V-10 … V-15), ANDed.
//!
//! Paths are matched as Envoy hands them to filters: Envoy's HTTP connection manager has
//! already normalised `:path` (S-1: RFC 3986 dot segments, `\` → `/`, no slash merging) before
//! any filter runs, so the core deliberately does not normalise again; a second pass could only
//! diverge from what Envoy's own router and the upstream see.

use std::collections::BTreeMap;

use crate::strmatch::{RegexError, StrMatcher, ValueMatcher};
use crate::wire::{RouteMatch, StringMatch, ValueMatch};
use crate::{Headers, RequestView};

use super::query::first_param;

/// How the `uri` condition selects the part of the path a `rewrite.uri` replaces (V-21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriKind {
    /// No `uri` condition: the implicit prefix is `/`.
    None,
    /// A prefix of this many bytes.
    Prefix(usize),
    /// An exact or regex match: the whole path.
    Whole,
}

/// One route's compiled conditions.
#[derive(Clone, Debug)]
pub struct CompiledMatch {
    uri: Option<StrMatcher>,
    /// The literal text every path a `uri.regex` matches starts with (for the path index).
    uri_literal_prefix: Option<Box<str>>,
    uri_kind: UriKind,
    scheme: Option<StrMatcher>,
    method: Option<StrMatcher>,
    authority: Option<StrMatcher>,
    headers: Vec<(Box<str>, ValueMatcher)>,
    without_headers: Vec<(Box<str>, ValueMatcher)>,
    query_params: Vec<(Box<str>, ValueMatcher)>,
}

/// A condition that failed to compile: field-path suffix, pattern, reason.
pub type MatchError = (String, String, RegexError);

/// The text of a regex condition (the only kind whose compilation can fail).
fn regex_text(m: &ValueMatch) -> String {
    match m {
        ValueMatch::Regex(r) => r.clone(),
        _ => String::new(),
    }
}

fn string_regex_text(m: &StringMatch) -> String {
    match m {
        StringMatch::Regex(r) => r.clone(),
        _ => String::new(),
    }
}

impl CompiledMatch {
    /// Compiles the wire conditions; errors name the field (`match.uri`, `match.headers[x]` …).
    pub fn compile(m: &RouteMatch) -> Result<Self, MatchError> {
        let one = |field: &str, s: &Option<StringMatch>, ic: bool| {
            s.as_ref()
                .map(|s| {
                    StrMatcher::compile(s, ic)
                        .map_err(|e| (format!("match.{field}"), string_regex_text(s), e))
                })
                .transpose()
        };
        let map = |field: &str, ms: &BTreeMap<String, ValueMatch>, lower: bool| {
            ms.iter()
                .map(|(k, v)| {
                    let key = if lower {
                        k.to_ascii_lowercase()
                    } else {
                        k.clone()
                    };
                    ValueMatcher::compile(v)
                        .map(|m| (key.into_boxed_str(), m))
                        .map_err(|e| (format!("match.{field}[{k:?}]"), regex_text(v), e))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let uri_kind = match &m.uri {
            None => UriKind::None,
            Some(StringMatch::Prefix(p)) => UriKind::Prefix(p.len()),
            Some(_) => UriKind::Whole,
        };
        let uri_literal_prefix = match &m.uri {
            Some(StringMatch::Regex(pattern)) => super::index::literal_prefix(pattern),
            _ => None,
        };
        Ok(CompiledMatch {
            uri: one("uri", &m.uri, m.ignore_uri_case)?,
            uri_literal_prefix,
            uri_kind,
            scheme: one("scheme", &m.scheme, false)?,
            method: one("method", &m.method, false)?,
            authority: one("authority", &m.authority, false)?,
            headers: map("headers", &m.headers, true)?,
            without_headers: map("withoutHeaders", &m.without_headers, true)?,
            query_params: map("queryParams", &m.query_params, false)?,
        })
    }

    /// The `uri` condition, for the path index.
    pub(crate) fn uri(&self) -> Option<&StrMatcher> {
        self.uri.as_ref()
    }

    /// The literal prefix of a `uri.regex` condition, if it has a non-empty one.
    pub(crate) fn uri_literal_prefix(&self) -> Option<&str> {
        self.uri_literal_prefix.as_deref()
    }

    /// How `rewrite.uri` applies to paths this route matched.
    pub fn uri_kind(&self) -> UriKind {
        self.uri_kind
    }

    /// Header names (lowercase, pseudo-headers excluded) the conditions read.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .chain(&self.without_headers)
            .map(|(k, _)| &**k)
            .filter(|k| !k.starts_with(':') && *k != "host")
    }

    /// True when a condition reads `:method` (a `method` match, or a header condition on the
    /// pseudo-header).
    pub fn reads_method(&self) -> bool {
        self.method.is_some() || self.names_header(":method")
    }

    /// True when a condition reads `:scheme` (a `scheme` match, or a header condition on the
    /// pseudo-header).
    pub fn reads_scheme(&self) -> bool {
        self.scheme.is_some() || self.names_header(":scheme")
    }

    /// True when a condition reads `:path`: a `uri` or `queryParams` match, or a header
    /// condition on the pseudo-header.
    pub fn reads_path(&self) -> bool {
        self.uri.is_some() || !self.query_params.is_empty() || self.names_header(":path")
    }

    fn names_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .chain(&self.without_headers)
            .any(|(k, _)| &**k == name)
    }

    /// True when every condition holds. `path` and `query` are `:path` split by
    /// [`crate::split_query`].
    pub fn matches(&self, req: &RequestView<'_>, path: &str, query: &str) -> bool {
        let holds = |m: &Option<StrMatcher>, v: &str| m.as_ref().is_none_or(|m| m.matches(v));
        holds(&self.uri, path)
            && holds(&self.method, req.method)
            && holds(&self.scheme, req.scheme)
            // The raw authority, port and case preserved (V-12).
            && holds(&self.authority, req.authority)
            && self.headers.iter().all(|(k, m)| m.matches(header(req, k)))
            && self
                .without_headers
                .iter()
                .all(|(k, m)| m.matches_inverted(header(req, k)))
            && self
                .query_params
                .iter()
                .all(|(k, m)| m.matches(first_param(query, k)))
    }
}

/// A header by lowercase name; pseudo-headers (V-13) and `host` come from the request line.
pub fn header<'r>(req: &RequestView<'r>, name: &str) -> Option<&'r str> {
    let present = |s: &'r str| (!s.is_empty()).then_some(s);
    match name {
        ":authority" | "host" => present(req.authority),
        ":path" => present(req.path),
        ":method" => present(req.method),
        ":scheme" => present(req.scheme),
        _ => Headers::get(req.headers, name),
    }
}
