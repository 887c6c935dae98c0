//! The egress allow-list's host patterns: the gateway's host rules (`crate::host`, G-9, S-2)
//! restricted to what a ServiceEntry or egress Gateway can list (E-1): exact names, `*.suffix`
//! and `*`. Request hosts are matched with any `:port` removed, ASCII-lowercased, and a trailing
//! dot kept (so `example.com.` matches only `*`).

use std::borrow::Cow;

use crate::host::{HostPattern, normalize_authority};

/// Parses one allow-list pattern; the error is the reason, the caller adds the field path.
pub(crate) fn parse_pattern(raw: &str) -> Result<HostPattern, String> {
    match raw.parse::<HostPattern>() {
        Ok(HostPattern::Prefix(_)) => Err(
            "a wildcard is only allowed as the whole left-most label (`*.example.com`) or alone \
             (`*`)"
                .to_string(),
        ),
        Ok(pattern) => Ok(pattern),
        Err(e) => Err(e.to_string()),
    }
}

/// The request host as matched, or `None` when there is no host at all.
pub(crate) fn normalize_host(authority: &str) -> Option<Cow<'_, str>> {
    let host = normalize_authority(authority);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host normalisation strips the port, lowercases, and keeps a trailing dot.
    #[test]
    fn normalizes_case_keeps_trailing_dot() {
        assert_eq!(
            normalize_host("API.Example.COM:80").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(normalize_host("[::1]:443").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host("a.com.").as_deref(), Some("a.com."));
        assert_eq!(normalize_host(":443"), None);
        assert_eq!(normalize_host(""), None);
    }

    /// Envoy-only `prefix.*` domains are not allow-list patterns.
    #[test]
    fn prefix_wildcards_are_refused() {
        assert!(parse_pattern("api.*").is_err());
        assert!(parse_pattern("*.example.com").is_ok());
        assert!(
            parse_pattern("a.com.").is_err(),
            "a trailing dot would never match"
        );
    }
}
