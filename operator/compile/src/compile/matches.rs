//! Runtime match conditions (V-10 … V-15): Istio `StringMatch` → wire matchers.

use portcullis_core::wire::{RouteMatch, StringMatch, ValueMatch};

use super::context::Reporter;
use crate::istio::{HttpMatchRequest, StringMatch as IstioMatch};

/// Istio rejects longer regexes (S-4).
const MAX_REGEX_LEN: usize = 1024;

/// Translates the runtime part of one match block; `None` (with an error) drops the block.
pub(super) fn runtime_match(
    r: &mut Reporter<'_>,
    m: &HttpMatchRequest,
    field: &str,
) -> Option<RouteMatch> {
    let mut out = RouteMatch {
        ignore_uri_case: m.ignore_uri_case,
        ..RouteMatch::default()
    };
    let mut ok = true;
    let mut scalar = |r: &mut Reporter<'_>,
                      sm: &Option<IstioMatch>,
                      name: &str,
                      allow_empty_prefix: bool| match sm {
        None => None,
        Some(sm) => match string_match(sm, allow_empty_prefix) {
            Ok(Some(m)) => Some(m),
            Ok(None) => {
                r.warning(
                    &format!("{field}.{name}"),
                    "empty match (no exact, prefix or regex) matches everything; ignored",
                    Some("V-10"),
                );
                None
            }
            Err(e) => {
                r.error(
                    &format!("{field}.{name}"),
                    format!("{e}; match block dropped"),
                    Some("V-10"),
                );
                ok = false;
                None
            }
        },
    };
    out.uri = scalar(r, &m.uri, "uri", true);
    out.scheme = scalar(r, &m.scheme, "scheme", false);
    out.method = scalar(r, &m.method, "method", false);
    out.authority = scalar(r, &m.authority, "authority", false);
    for (key, target, rule) in [
        ("headers", &m.headers, "V-13"),
        ("withoutHeaders", &m.without_headers, "V-14"),
        ("queryParams", &m.query_params, "V-15"),
    ] {
        for (name, sm) in target {
            let f = format!("{field}.{key}.{name}");
            if name.is_empty() {
                r.error(&f, "empty name; match block dropped", Some(rule));
                ok = false;
                continue;
            }
            match value_match(sm) {
                Ok(v) => {
                    let map = match key {
                        "headers" => &mut out.headers,
                        "withoutHeaders" => &mut out.without_headers,
                        _ => &mut out.query_params,
                    };
                    // Header names are case-insensitive (V-13); query parameter names are not (V-15).
                    let name = if key == "queryParams" {
                        name.clone()
                    } else {
                        name.to_ascii_lowercase()
                    };
                    map.insert(name, v);
                }
                Err(e) => {
                    r.error(&f, format!("{e}; match block dropped"), Some(rule));
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}

/// `exact` / `prefix` / `regex`; `Ok(None)` when none is set.
pub(super) fn string_match(
    sm: &IstioMatch,
    allow_empty_prefix: bool,
) -> Result<Option<StringMatch>, String> {
    let set = [sm.exact.is_some(), sm.prefix.is_some(), sm.regex.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        return Err("only one of exact, prefix and regex may be set".into());
    }
    Ok(match (&sm.exact, &sm.prefix, &sm.regex) {
        (Some(e), _, _) => Some(StringMatch::Exact(e.clone())),
        (_, Some(p), _) if p.is_empty() && !allow_empty_prefix => {
            return Err("prefix must not be empty".into());
        }
        (_, Some(p), _) => Some(StringMatch::Prefix(p.clone())),
        (_, _, Some(re)) => {
            validate_regex(re)?;
            Some(StringMatch::Regex(re.clone()))
        }
        _ => None,
    })
}

/// A header or query value condition: `{}` and `regex: "*"` mean "present" (V-13).
pub(super) fn value_match(sm: &IstioMatch) -> Result<ValueMatch, String> {
    if sm.regex.as_deref() == Some("*") && sm.exact.is_none() && sm.prefix.is_none() {
        return Ok(ValueMatch::Present(true));
    }
    Ok(match string_match(sm, false)? {
        None => ValueMatch::Present(true),
        Some(StringMatch::Exact(v)) => ValueMatch::Exact(v),
        Some(StringMatch::Prefix(v)) => ValueMatch::Prefix(v),
        Some(StringMatch::Regex(v)) => ValueMatch::Regex(v),
    })
}

/// RE2 syntax, at most 1024 characters (S-4), checked by the same engine the filters run, so
/// a regex the filters would refuse is reported here, on the resource.
pub(super) fn validate_regex(re: &str) -> Result<(), String> {
    if re.len() > MAX_REGEX_LEN {
        return Err(format!("regex longer than {MAX_REGEX_LEN} characters"));
    }
    portcullis_core::strmatch::full_match_regex(re)
        .map(|_| ())
        .map_err(|e| format!("invalid regex {re:?}: {e}"))
}

/// V-6: a route whose path matcher is prefix `/` (or absent) or regex `.*`, with no other
/// condition. Istio moves these last (V-8) and stops emitting a VS after one (V-5).
pub(super) fn is_catch_all(m: &RouteMatch) -> bool {
    let path_all = match &m.uri {
        None => true,
        Some(StringMatch::Prefix(p)) => p == "/",
        Some(StringMatch::Regex(r)) => r == ".*",
        Some(StringMatch::Exact(_)) => false,
    };
    path_all
        && m.scheme.is_none()
        && m.method.is_none()
        && m.authority.is_none()
        && m.headers.is_empty()
        && m.without_headers.is_empty()
        && m.query_params.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm(exact: Option<&str>, prefix: Option<&str>, regex: Option<&str>) -> IstioMatch {
        IstioMatch {
            exact: exact.map(Into::into),
            prefix: prefix.map(Into::into),
            regex: regex.map(Into::into),
        }
    }

    /// V-13/V-14: `{}` and `regex: "*"` mean presence.
    #[test]
    fn v13_presence_forms() {
        assert_eq!(
            value_match(&sm(None, None, None)),
            Ok(ValueMatch::Present(true))
        );
        assert_eq!(
            value_match(&sm(None, None, Some("*"))),
            Ok(ValueMatch::Present(true))
        );
        assert_eq!(
            value_match(&sm(None, None, Some(".*"))),
            Ok(ValueMatch::Regex(".*".into()))
        );
        assert!(value_match(&sm(None, Some(""), None)).is_err());
    }

    /// V-10: exclusivity, empty uri prefix, regex validity.
    #[test]
    fn v10_string_match_rules() {
        assert!(string_match(&sm(Some("a"), Some("b"), None), true).is_err());
        assert_eq!(
            string_match(&sm(None, Some(""), None), true),
            Ok(Some(StringMatch::Prefix(String::new())))
        );
        assert!(string_match(&sm(None, None, Some("(")), true).is_err());
        assert!(string_match(&sm(None, None, Some(&"a".repeat(1025))), true).is_err());
    }

    /// V-6: catch-all detection.
    #[test]
    fn v6_catch_all() {
        assert!(is_catch_all(&RouteMatch::default()));
        assert!(is_catch_all(&RouteMatch {
            uri: Some(StringMatch::Prefix("/".into())),
            ..Default::default()
        }));
        assert!(is_catch_all(&RouteMatch {
            uri: Some(StringMatch::Regex(".*".into())),
            ..Default::default()
        }));
        assert!(!is_catch_all(&RouteMatch {
            uri: Some(StringMatch::Prefix("".into())),
            ..Default::default()
        }));
        let mut with_header = RouteMatch::default();
        with_header
            .headers
            .insert("x".into(), ValueMatch::Present(true));
        assert!(!is_catch_all(&with_header));
    }
}
