//! Compile-time checks of a route's action, fault and mirrors (V-17 … V-24), with the field
//! paths the errors carry.

use crate::contract::is_reserved_header;
use crate::error::ConfigError;
use crate::strmatch::RegexError;
use crate::wire::{
    Action, DirectResponse, Forward, HeaderOperations, HeaderOperationsPair, Route, StringMatch,
};

use super::rewrite::PathRewrite;

/// Redirect codes Istio turns into an Envoy redirect (V-19); other 3xx make istiod emit a
/// route without action (F.9), so they are refused.
const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// An `Invalid` error at `{at}.{field}`.
pub(super) fn invalid(at: &str, field: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        at: format!("{at}.{field}"),
        reason: reason.to_string(),
    }
}

/// An `InvalidRegex` error at `{at}.{field}`.
pub(super) fn regex_error(at: &str, field: &str, pattern: String, e: RegexError) -> ConfigError {
    ConfigError::InvalidRegex {
        at: format!("{at}.{field}"),
        pattern,
        reason: e.0,
    }
}

/// The text of a `StringMatch` regex (for error messages).
pub(super) fn regex_text(m: Option<&StringMatch>) -> String {
    match m {
        Some(StringMatch::Regex(r)) => r.clone(),
        _ => String::new(),
    }
}

/// S-8: no header operation of the route or of its destinations may touch the cluster header
/// or Envoy's `x-envoy-*` control headers.
pub(super) fn header_operations(route: &Route, at: &str) -> Result<(), ConfigError> {
    let mut pairs = vec![("headers".to_string(), &route.headers)];
    if let Action::Route(f) = &route.action {
        pairs.extend(f.destinations.iter().enumerate().map(|(i, d)| {
            (
                format!("action.route.destinations[{i}].headers"),
                &d.headers,
            )
        }));
    }
    for (field, pair) in pairs {
        let HeaderOperationsPair { request, response } = pair;
        for (side, ops) in [("request", request), ("response", response)] {
            if let Some((verb, name)) = reserved_operation(ops) {
                return Err(invalid(
                    at,
                    &format!("{field}.{side}.{verb}"),
                    &format!(
                        "header {name} is reserved (the cluster header and x-envoy-* control \
                         headers cannot be set, added or removed, S-8)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn reserved_operation(ops: &HeaderOperations) -> Option<(&'static str, &str)> {
    let reserved = |n: &&String| is_reserved_header(n);
    if let Some(n) = ops.set.keys().find(reserved) {
        return Some(("set", n));
    }
    if let Some(n) = ops.add.keys().find(reserved) {
        return Some(("add", n));
    }
    ops.remove
        .iter()
        .find(reserved)
        .map(|n| ("remove", n.as_str()))
}

/// Checks the action; for a forward, checks its weights and compiles its path rewrite.
pub(super) fn action(route: &Route, at: &str) -> Result<Option<PathRewrite>, ConfigError> {
    match &route.action {
        Action::Route(f) => forward(f, at),
        Action::Redirect(r) if !REDIRECT_CODES.contains(&r.code) => Err(invalid(
            at,
            "action.redirect.code",
            "must be one of 301, 302, 303, 307, 308",
        )),
        Action::Redirect(r) if r.uri.is_some() && r.prefix_rewrite.is_some() => Err(invalid(
            at,
            "action.redirect.prefixRewrite",
            "uri and prefixRewrite are mutually exclusive",
        )),
        Action::DirectResponse(d) if !(200..=599).contains(&d.status) => Err(invalid(
            at,
            "action.directResponse.status",
            "must be 200-599",
        )),
        Action::Redirect(_) | Action::DirectResponse(_) => Ok(None),
    }
}

/// The body of a direct response: `body` as text, or `bodyBase64` decoded (V-20).
pub(super) fn direct_body(d: &DirectResponse, at: &str) -> Result<Vec<u8>, ConfigError> {
    const FIELD: &str = "action.directResponse.bodyBase64";
    match &d.body_base64 {
        None => Ok(d.body.as_bytes().to_vec()),
        Some(_) if !d.body.is_empty() => Err(invalid(
            at,
            FIELD,
            "body and bodyBase64 are mutually exclusive",
        )),
        Some(encoded) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| invalid(at, FIELD, &format!("invalid base64: {e}")))
        }
    }
}

fn forward(f: &Forward, at: &str) -> Result<Option<PathRewrite>, ConfigError> {
    const DESTS: &str = "action.route.destinations";
    if f.destinations.is_empty() {
        return Err(invalid(at, DESTS, "no destination"));
    }
    let total: u64 = f.destinations.iter().map(|d| u64::from(d.weight)).sum();
    // One destination takes all traffic whatever its weight (V-18).
    if f.destinations.len() > 1 && total == 0 {
        return Err(invalid(at, DESTS, "weights sum to 0"));
    }
    let Some(rw) = &f.rewrite else {
        return Ok(None);
    };
    if rw.uri.is_some() && rw.uri_regex.is_some() {
        return Err(invalid(
            at,
            "action.route.rewrite",
            "uri and uriRegex are mutually exclusive",
        ));
    }
    let rewrite = PathRewrite::compile(rw).map_err(|(field, e)| {
        let text = rw.uri_regex.as_ref().map_or_else(String::new, |r| {
            if field.ends_with("pattern") {
                r.pattern.clone()
            } else {
                r.substitution.clone()
            }
        });
        regex_error(at, &format!("action.route.{field}"), text, e)
    })?;
    Ok(rewrite)
}

/// Faults only with a forward (V-17); percentages in [0, 100]; an abort needs a status (V-23).
pub(super) fn fault(route: &Route, at: &str) -> Result<(), ConfigError> {
    let Some(fault) = &route.fault else {
        return Ok(());
    };
    if !matches!(route.action, Action::Route(_)) {
        return Err(invalid(at, "fault", "a fault needs a route action (V-17)"));
    }
    if let Some(d) = &fault.delay {
        percent(d.percentage, at, "fault.delay.percentage")?;
    }
    if let Some(a) = &fault.abort {
        percent(a.percentage, at, "fault.abort.percentage")?;
        match (a.http_status, a.grpc_status) {
            (None, None) => {
                return Err(invalid(at, "fault.abort", "needs httpStatus or grpcStatus"));
            }
            (Some(s), _) if !(200..=599).contains(&s) => {
                return Err(invalid(at, "fault.abort.httpStatus", "must be 200-599"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Mirror percentages in [0, 100] (V-24).
pub(super) fn mirrors(route: &Route, at: &str) -> Result<(), ConfigError> {
    for (i, m) in route.mirrors.iter().enumerate() {
        percent(m.percentage, at, &format!("mirrors[{i}].percentage"))?;
    }
    Ok(())
}

fn percent(p: f64, at: &str, field: &str) -> Result<(), ConfigError> {
    // NaN fails `contains` too.
    if (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(invalid(at, field, &format!("{p} is not in [0, 100]")))
    }
}
