//! Host patterns and the host index, with Envoy's virtual-host selection semantics (G-5, G-9,
//! S-2).
//!
//! Matching is on strings, as Envoy does: the request authority is reduced to its host part by
//! [`normalize_authority`] (port part cut as Envoy cuts it, ASCII lowercased, trailing dot kept) and looked up in
//! a [`HostIndex`] in the order exact > longest `*.suffix` > longest `prefix.*` > `*`.
//!
//! IP literals: IPv4 addresses are ordinary exact names. IPv6 literals are written bracketed
//! (`[::1]`) or bare (`::1`) in a pattern and are always stored bracketed, which is how they
//! appear in a Host header; they are compared as written (no address canonicalisation, as in
//! Envoy), so `[0::1]` does not match `[::1]`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Longest DNS name accepted (RFC 1035).
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label accepted (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// A parsed host pattern. Only built through [`FromStr`], so every value is valid and lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostPattern {
    /// An exact name (`dev.example.com`, `10.0.0.1`, `[::1]`).
    Exact(String),
    /// `*.example.com`, stored as the suffix after the star (`.example.com`).
    Suffix(String),
    /// `foo.*` (Envoy vhost domains only), stored as the prefix before the star (`foo.`).
    Prefix(String),
    /// `*`: any host.
    Any,
}

/// Why a host pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvalidHost(pub &'static str);

impl fmt::Display for InvalidHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidHost {}

impl FromStr for HostPattern {
    type Err = InvalidHost;

    fn from_str(s: &str) -> Result<Self, InvalidHost> {
        let s = s.to_ascii_lowercase();
        if s == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(suffix) = s.strip_prefix("*.") {
            validate_dns(suffix)?;
            return Ok(HostPattern::Suffix(format!(".{suffix}")));
        }
        if let Some(prefix) = s.strip_suffix(".*") {
            validate_dns(prefix)?;
            return Ok(HostPattern::Prefix(format!("{prefix}.")));
        }
        if s.contains('*') {
            return Err(InvalidHost(
                "a wildcard is allowed only as `*`, `*.suffix` or `prefix.*`",
            ));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return match inner.parse::<Ipv6Addr>() {
                Ok(_) => Ok(HostPattern::Exact(s)),
                Err(_) => Err(InvalidHost("not an IPv6 address between brackets")),
            };
        }
        if s.contains(':') {
            return match s.parse::<Ipv6Addr>() {
                Ok(_) => Ok(HostPattern::Exact(format!("[{s}]"))),
                Err(_) => Err(InvalidHost("a host pattern carries no port")),
            };
        }
        if s.parse::<Ipv4Addr>().is_err() {
            validate_dns(&s)?;
        }
        Ok(HostPattern::Exact(s))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Suffix(s) => write!(f, "*{s}"),
            HostPattern::Prefix(p) => write!(f, "{p}*"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

impl HostPattern {
    /// True when `host` (already normalised) matches this pattern on its own: the reference
    /// the index's property tests compare against.
    #[cfg(test)]
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host == h,
            // The star stands for at least one character (G-9).
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
            HostPattern::Prefix(p) => host.len() > p.len() && host.starts_with(p.as_str()),
            HostPattern::Any => true,
        }
    }
}

/// Accepts DNS-ish names: dot-separated labels of ASCII letters, digits, `-` and `_` (the last
/// occurs in real service names), no empty label, so no trailing dot.
fn validate_dns(name: &str) -> Result<(), InvalidHost> {
    if name.is_empty() {
        return Err(InvalidHost("empty host"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidHost("host longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(InvalidHost("empty label (leading, trailing or double dot)"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(InvalidHost("label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidHost(
                "a label may only hold letters, digits, `-` and `_`",
            ));
        }
    }
    Ok(())
}

/// Reduces a Host / `:authority` value to what vhost matching compares (S-2, G-9): the port
/// part removed as Envoy's `ignore_port_in_host_matching` removes it ([`host_part`]), ASCII
/// lowercased, a trailing dot kept. Allocates only when the host has uppercase letters.
pub(crate) fn normalize_authority(authority: &str) -> Cow<'_, str> {
    let host = host_part(authority);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The host part of an authority as Envoy's virtual-host selection sees it with
/// `ignore_port_in_host_matching` (which Istio's gateway sets, S-2): everything from the last
/// `:` on is removed, whatever follows it (`h:abc`, `h:`, `h:123456` all become `h`), unless
/// a `]` comes after that `:` (an IPv6 literal without port, `[::1]`). A bare IPv6 address is
/// cut like any other host (`::1` becomes `:`), as Envoy cuts it (`HeaderUtility::getPortStart`).
pub fn host_part(authority: &str) -> &str {
    let Some(colon) = authority.rfind(':') else {
        return authority;
    };
    if authority.rfind(']').is_some_and(|b| b > colon) {
        return authority;
    }
    &authority[..colon]
}

/// Removes a numeric `:port` suffix, like Envoy's `stripPortFromHost` (redirects, V-19): only
/// when the text after the last `:` is a number and that `:` is not inside an IPv6 literal.
/// Virtual-host matching cuts more ([`host_part`]).
pub fn strip_port(authority: &str) -> &str {
    let Some(colon) = authority.rfind(':') else {
        return authority;
    };
    if authority.rfind(']').is_some_and(|b| b > colon) {
        return authority;
    }
    let port = &authority[colon + 1..];
    if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) {
        // A bare IPv6 address (`::1`) is not a host with a port: leave it alone.
        let host = &authority[..colon];
        if host.starts_with('[') || !host.contains(':') {
            return host;
        }
    }
    authority
}

/// Which kind of pattern won a lookup, from most to least specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MatchKind {
    /// An exact name.
    Exact,
    /// A `*.suffix` wildcard.
    Suffix,
    /// A `prefix.*` wildcard.
    Prefix,
    /// `*`.
    Any,
}

/// Evidence of a lookup: the value and the pattern that selected it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostMatch<'i, T> {
    /// The value stored with the pattern.
    pub value: &'i T,
    /// The pattern as stored (`*.example.com`).
    pub pattern: &'i str,
    /// Its kind.
    pub kind: MatchKind,
}

#[derive(Clone, Debug)]
struct Entry<T> {
    pattern: Box<str>,
    value: T,
}

fn found<T>(e: &Entry<T>, kind: MatchKind) -> HostMatch<'_, T> {
    HostMatch {
        value: &e.value,
        pattern: &e.pattern,
        kind,
    }
}

/// Host patterns indexed for Envoy's selection order (G-9). Lookup costs one hash lookup per
/// label of the host for each wildcard kind, whatever the number of patterns.
#[derive(Clone, Debug)]
pub(crate) struct HostIndex<T> {
    exact: HashMap<Box<str>, Entry<T>>,
    /// Keyed by the suffix including its leading dot (`.example.com`).
    suffix: HashMap<Box<str>, Entry<T>>,
    /// Keyed by the prefix including its trailing dot (`foo.`).
    prefix: HashMap<Box<str>, Entry<T>>,
    any: Option<Entry<T>>,
}

impl<T> Default for HostIndex<T> {
    fn default() -> Self {
        HostIndex {
            exact: HashMap::new(),
            suffix: HashMap::new(),
            prefix: HashMap::new(),
            any: None,
        }
    }
}

impl<T> HostIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern. When the pattern is already present the first value is kept and the
    /// rejected value is handed back (callers decide whether a duplicate is an error).
    pub fn insert(&mut self, pattern: &HostPattern, value: T) -> Result<(), T> {
        let entry = Entry {
            pattern: pattern.to_string().into_boxed_str(),
            value,
        };
        let (map, key) = match pattern {
            HostPattern::Exact(h) => (&mut self.exact, h),
            HostPattern::Suffix(s) => (&mut self.suffix, s),
            HostPattern::Prefix(p) => (&mut self.prefix, p),
            HostPattern::Any => {
                return match self.any {
                    Some(_) => Err(entry.value),
                    None => {
                        self.any = Some(entry);
                        Ok(())
                    }
                };
            }
        };
        if map.contains_key(key.as_str()) {
            return Err(entry.value);
        }
        map.insert(key.as_str().into(), entry);
        Ok(())
    }

    /// Mutable access to the value of an exact pattern already inserted.
    pub fn get_mut(&mut self, pattern: &HostPattern) -> Option<&mut T> {
        let entry = match pattern {
            HostPattern::Exact(h) => self.exact.get_mut(h.as_str()),
            HostPattern::Suffix(s) => self.suffix.get_mut(s.as_str()),
            HostPattern::Prefix(p) => self.prefix.get_mut(p.as_str()),
            HostPattern::Any => self.any.as_mut(),
        };
        entry.map(|e| &mut e.value)
    }

    /// Finds the most specific pattern for a normalised host (see [`normalize_authority`]).
    pub fn lookup(&self, host: &str) -> Option<HostMatch<'_, T>> {
        self.matches(host).next()
    }

    /// Every pattern matching a normalised host, most specific first: the exact name, then
    /// `*.suffix` patterns from the longest suffix to the shortest, then `prefix.*` patterns
    /// from the longest prefix, then `*`. Lazy: taking the first costs what [`HostIndex::lookup`]
    /// costs. Egress walks further when the best pattern does not allow the port.
    pub fn matches<'i, 'h>(
        &'i self,
        host: &'h str,
    ) -> impl Iterator<Item = HostMatch<'i, T>> + use<'i, 'h, T> {
        let exact = self.exact.get(host).map(|e| found(e, MatchKind::Exact));
        // Candidate suffixes start at each dot after the first character, leftmost (longest)
        // first; the star then covers the non-empty text before the dot.
        let suffixes = host
            .match_indices('.')
            .filter(|(i, _)| *i > 0)
            .filter(|_| !self.suffix.is_empty())
            .filter_map(|(i, _)| self.suffix.get(&host[i..]))
            .map(|e| found(e, MatchKind::Suffix));
        // Candidate prefixes end at each dot before the last character, rightmost (longest)
        // first.
        let prefixes = host
            .rmatch_indices('.')
            .filter(|(i, _)| i + 1 < host.len())
            .filter(|_| !self.prefix.is_empty())
            .filter_map(|(i, _)| self.prefix.get(&host[..=i]))
            .map(|e| found(e, MatchKind::Prefix));
        let any = self.any.as_ref().map(|e| found(e, MatchKind::Any));
        exact.into_iter().chain(suffixes).chain(prefixes).chain(any)
    }

    /// Envoy's choice of a filter chain by SNI (`findFilterChainForServerName`), over TLS
    /// server hosts (G-11): the SNI as given (Envoy lowercases it, nothing else: no port or
    /// trailing dot is removed) as an exact name; then, from the dot after the first
    /// character on, each `*.suffix` whose suffix is the rest of the name, longest first; then
    /// `*` (the chain without server names), which also takes a missing SNI (`""`). Envoy keeps
    /// `*.suffix` as `.suffix` next to the exact names, so a name that starts with a dot
    /// (`.example.com`) is taken by `*.example.com` in the exact step. `prefix.*` patterns
    /// play no part (filter chains have none).
    pub fn lookup_server_name(&self, sni: &str) -> Option<HostMatch<'_, T>> {
        if let Some(e) = self.exact.get(sni) {
            return Some(found(e, MatchKind::Exact));
        }
        if sni.starts_with('.')
            && let Some(e) = self.suffix.get(sni)
        {
            return Some(found(e, MatchKind::Suffix));
        }
        let mut pos = sni.get(1..).and_then(|rest| rest.find('.')).map(|p| p + 1);
        while let Some(p) = pos.filter(|&p| p + 1 < sni.len()) {
            if let Some(e) = self.suffix.get(&sni[p..]) {
                return Some(found(e, MatchKind::Suffix));
            }
            pos = sni[p + 1..].find('.').map(|q| p + 1 + q);
        }
        self.any.as_ref().map(|e| found(e, MatchKind::Any))
    }

    /// Normalises an authority and looks it up.
    #[cfg(test)]
    pub fn lookup_authority(&self, authority: &str) -> Option<HostMatch<'_, T>> {
        self.lookup(&normalize_authority(authority))
    }
}

#[cfg(test)]
mod tests;
