//! The egress host table: which allow-list entries a host matches, most specific first.
//!
//! This follows the same rules as the gateway host index in `host.rs` (G-9, S-2), kept small
//! and local because egress only needs exact, `*.suffix` and `*` patterns (E-1 hosts):
//! - the request host is matched with any `:port` removed and ASCII-lowercased;
//! - a trailing dot is NOT removed, so `example.com.` matches neither `example.com` nor
//!   `*.com`, only `*` (S-2);
//! - exact beats suffix wildcard, the longest suffix wins, `*` comes last;
//! - `*.foo.com` needs at least one character before `.foo.com` and may span dots.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A validated host pattern, as written in the allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// `api.example.com`.
    Exact(String),
    /// `*.example.com`, stored without the leading `*.`.
    Suffix(String),
    /// `*`.
    Any,
}

impl HostPattern {
    /// Parses one pattern; the error is the reason, the caller adds the field path.
    /// Patterns are lowercased: the wire format promises lowercase, and matching is
    /// case-insensitive anyway, so a stray capital is not worth refusing a config for.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if raw == "*" {
            return Ok(HostPattern::Any);
        }
        let lower = raw.to_ascii_lowercase();
        if let Some(suffix) = lower.strip_prefix("*.") {
            validate_dns_name(suffix)?;
            return Ok(HostPattern::Suffix(suffix.to_string()));
        }
        if lower.contains('*') {
            return Err(
                "a wildcard is only allowed as the whole left-most label (`*.example.com`) or \
                 alone (`*`)"
                    .to_string(),
            );
        }
        validate_dns_name(&lower)?;
        Ok(HostPattern::Exact(lower))
    }
}

/// Checks an FQDN without wildcard: 1..=253 bytes, labels 1..=63 bytes of `[a-z0-9_-]`.
/// Underscores are tolerated because real service hosts use them; a trailing dot is refused
/// because, with the dot kept in request hosts (S-2), it would silently never match.
fn validate_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty host".to_string());
    }
    if name.len() > 253 {
        return Err("longer than 253 characters".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or double dot)".to_string());
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters".to_string());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(format!("invalid character {c:?}"));
        }
    }
    Ok(())
}

/// The request host as matched: port removed, lowercased (borrowed when already lowercase).
/// `None` when there is no host at all.
pub(crate) fn normalize_host(authority: &str) -> Option<Cow<'_, str>> {
    let host = strip_port(authority);
    if host.is_empty() {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// Removes a `:port` suffix the way Envoy's `ignore_port_in_host_matching` does: only a numeric
/// suffix after the last colon, and never inside an IPv6 literal (`[::1]:443` → `[::1]`).
fn strip_port(authority: &str) -> &str {
    if authority.ends_with(']') {
        return authority;
    }
    match authority.rfind(':') {
        Some(i) if authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            // A bare IPv6 address without brackets has several colons and is left alone.
            let host = &authority[..i];
            if host.contains(':') && !host.starts_with('[') {
                authority
            } else {
                host
            }
        }
        _ => authority,
    }
}

/// FNV-1a: the table is keyed by config hosts only, so hash flooding is not a concern, and a
/// fixed hasher keeps the core free of randomness (no `random_get` from the wasm host).
#[derive(Debug)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

type FnvMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

/// Index of allow-list entries by host pattern. Values are entry indices in wire order.
#[derive(Debug, Default)]
pub(crate) struct HostTable {
    exact: FnvMap<Vec<usize>>,
    suffix: FnvMap<Vec<usize>>,
    any: Vec<usize>,
}

impl HostTable {
    /// Adds entry `index` under `pattern`.
    pub(crate) fn insert(&mut self, pattern: &HostPattern, index: usize) {
        match pattern {
            HostPattern::Exact(h) => self.exact.entry(h.clone()).or_default().push(index),
            HostPattern::Suffix(s) => self.suffix.entry(s.clone()).or_default().push(index),
            HostPattern::Any => self.any.push(index),
        }
    }

    /// The entry groups matching `host` (already normalised), most specific first: the exact
    /// group, then suffix groups from the longest suffix to the shortest, then `*`.
    pub(crate) fn candidates<'t>(&'t self, host: &'t str) -> impl Iterator<Item = &'t [usize]> {
        let exact = self.exact.get(host).map(Vec::as_slice);
        // Walking dots from the left visits suffixes from longest to shortest; a dot at index 0
        // leaves nothing for the `*` to match, so it is skipped.
        let suffixes = host
            .match_indices('.')
            .filter(|(i, _)| *i > 0)
            .filter_map(move |(i, _)| self.suffix.get(&host[i + 1..]).map(Vec::as_slice));
        let any = (!self.any.is_empty()).then_some(self.any.as_slice());
        exact.into_iter().chain(suffixes).chain(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports are stripped only when numeric and outside IPv6 brackets.
    #[test]
    fn strips_ports_like_envoy() {
        assert_eq!(strip_port("a.com:443"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
        assert_eq!(strip_port("a.com:"), "a.com");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("a.com:x"), "a.com:x");
    }

    /// Host normalisation lowercases without touching a trailing dot.
    #[test]
    fn normalizes_case_keeps_trailing_dot() {
        assert_eq!(
            normalize_host("API.Example.COM:80").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(normalize_host("a.com.").as_deref(), Some("a.com."));
        assert_eq!(normalize_host(":443"), None);
        assert_eq!(normalize_host(""), None);
    }
}
