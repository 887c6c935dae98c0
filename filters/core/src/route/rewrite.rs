//! Path rewrites of a forwarded request (V-21).
//!
//! `uri` is Envoy's `prefix_rewrite`: it replaces the part of `:path` the route's `uri`
//! condition matched (the prefix for a prefix match, the whole path for exact and regex
//! matches, `/` when the route has no `uri` condition) and keeps the rest verbatim, query
//! included. `uriRegex` is Envoy's `regex_rewrite`: every non-overlapping match in the path
//! (query excluded) is substituted. No normalisation runs afterwards, as in Envoy.

use regex_lite::Regex;

use crate::strmatch::{RegexError, search_regex, translate_substitution};
use crate::wire::Rewrite;

use super::matcher::UriKind;

/// A compiled path rewrite.
#[derive(Clone, Debug)]
pub enum PathRewrite {
    /// Replace the matched part with this string.
    Prefix(Box<str>),
    /// Substitute every match of the regex (Rust replacement syntax).
    Regex(Box<Regex>, Box<str>),
}

impl PathRewrite {
    /// Compiles the path part of a wire rewrite; `None` when it does not touch the path.
    pub fn compile(r: &Rewrite) -> Result<Option<Self>, (&'static str, RegexError)> {
        if let Some(uri) = &r.uri {
            return Ok(Some(PathRewrite::Prefix(uri.as_str().into())));
        }
        let Some(rr) = &r.uri_regex else {
            return Ok(None);
        };
        let re = search_regex(&rr.pattern).map_err(|e| ("rewrite.uriRegex.pattern", e))?;
        let sub = translate_substitution(&rr.substitution, re.captures_len())
            .map_err(|e| ("rewrite.uriRegex.substitution", e))?;
        Ok(Some(PathRewrite::Regex(Box::new(re), sub.into_boxed_str())))
    }

    /// The new `:path` for a request whose full `:path` is `raw` (fragment already dropped)
    /// and whose path without query is `path`.
    pub fn apply(&self, raw: &str, path: &str, kind: UriKind) -> String {
        match self {
            PathRewrite::Prefix(new) => {
                let matched = match kind {
                    UriKind::None => 1,
                    UriKind::Prefix(n) => n,
                    UriKind::Whole => path.len(),
                };
                let rest = raw.get(matched..).unwrap_or("");
                let mut out = String::with_capacity(new.len() + rest.len());
                out.push_str(new);
                out.push_str(rest);
                out
            }
            PathRewrite::Regex(re, sub) => {
                let rest = raw.get(path.len()..).unwrap_or("");
                let mut out = re.replace_all(path, &**sub).into_owned();
                out.push_str(rest);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::RegexRewrite;

    fn prefix(uri: &str) -> PathRewrite {
        PathRewrite::compile(&Rewrite {
            uri: Some(uri.into()),
            ..Rewrite::default()
        })
        .unwrap()
        .unwrap()
    }

    fn apply(rw: &PathRewrite, raw: &str, kind: UriKind) -> String {
        rw.apply(raw, crate::split_query(raw).0, kind)
    }

    /// V-21: the matched part is replaced, the rest and the query kept.
    #[test]
    fn prefix_rewrite() {
        let rw = prefix("/");
        assert_eq!(apply(&rw, "/customer/foo", UriKind::Prefix(9)), "//foo");
        assert_eq!(apply(&rw, "/customerX", UriKind::Prefix(9)), "/X");
        let rw = prefix("/path");
        assert_eq!(apply(&rw, "/foo", UriKind::None), "/pathfoo");
        let rw = prefix("/new/path");
        assert_eq!(
            apply(&rw, "/foo?key=value", UriKind::Whole),
            "/new/path?key=value"
        );
        let rw = prefix("/pre");
        assert_eq!(apply(&rw, "/foo", UriKind::Prefix(0)), "/pre/foo");
    }

    /// V-21, F.12: Envoy's example and the Istio doc's variant, computed mechanically.
    #[test]
    fn regex_rewrite() {
        let rr = |p: &str, s: &str| {
            PathRewrite::compile(&Rewrite {
                uri_regex: Some(RegexRewrite {
                    pattern: p.into(),
                    substitution: s.into(),
                }),
                ..Rewrite::default()
            })
            .unwrap()
            .unwrap()
        };
        let rw = rr(r"^/service/([^/]+)(/.*)$", r"\2/instance/\1");
        assert_eq!(
            apply(&rw, "/service/foo/v1/api", UriKind::None),
            "/v1/api/instance/foo"
        );
        let rw = rr(r"^/service/([^/]+)(/.*)$", r"/customprefix/\2/\1");
        assert_eq!(
            apply(&rw, "/service/update/v1/api?x=1", UriKind::None),
            "/customprefix//v1/api/update?x=1"
        );
        let rw = rr("o", "0");
        assert_eq!(apply(&rw, "/foo/boo?o=o", UriKind::None), "/f00/b00?o=o");
    }
}
