//! Route options: retries and CORS (V-24).

use portcullis_core::contract::MESH_DEFAULT_RETRY_ON;
use portcullis_core::wire::{Cors, Retries};

use super::super::context::Reporter;
use super::super::duration::parse_ms;
use super::super::matches::string_match;
use crate::istio::{self, HttpRoute};

/// V-24: unset `retries` means the mesh default (2 attempts), except on a rule with a fault,
/// where the API documents retries as disabled; `attempts: 0` disables them.
pub(super) fn retries(
    r: &mut Reporter<'_>,
    http: &HttpRoute,
    field: &str,
    has_fault: bool,
) -> Option<Option<Retries>> {
    let Some(rt) = &http.retries else {
        return Some((!has_fault).then(Retries::mesh_default));
    };
    if rt.attempts <= 0 {
        return Some(None);
    }
    let per_try_timeout_ms = match &rt.per_try_timeout {
        Some(t) => match parse_ms(t) {
            Ok(ms) => Some(ms),
            Err(e) => {
                r.error(
                    &format!("{field}.retries.perTryTimeout"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        },
        None => None,
    };
    Some(Some(Retries {
        attempts: u32::try_from(rt.attempts).unwrap_or(u32::MAX),
        per_try_timeout_ms,
        retry_on: Some(
            rt.retry_on
                .clone()
                .unwrap_or_else(|| MESH_DEFAULT_RETRY_ON.to_string()),
        ),
    }))
}

pub(super) fn cors(r: &mut Reporter<'_>, c: &istio::CorsPolicy, field: &str) -> Option<Cors> {
    let mut allow_origins = Vec::new();
    for (k, o) in c.allow_origins.iter().enumerate() {
        match string_match(o, false) {
            Ok(Some(m)) => allow_origins.push(m),
            Ok(None) => r.warning(
                &format!("{field}.allowOrigins[{k}]"),
                "empty origin match ignored",
                Some("V-24"),
            ),
            Err(e) => {
                r.error(
                    &format!("{field}.allowOrigins[{k}]"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        }
    }
    // The deprecated `allowOrigin` list holds exact origins, `*` meaning any.
    for o in &c.allow_origin {
        allow_origins.push(if o == "*" {
            portcullis_core::wire::StringMatch::Regex(".*".into())
        } else {
            portcullis_core::wire::StringMatch::Exact(o.clone())
        });
    }
    let max_age_s = match &c.max_age {
        Some(t) => match parse_ms(t).and_then(|ms| {
            if ms % 1000 == 0 {
                Ok(ms / 1000)
            } else {
                Err(format!(
                    "maxAge {t:?} must be whole seconds (Istio's validation)"
                ))
            }
        }) {
            Ok(s) => Some(s),
            Err(e) => {
                r.error(
                    &format!("{field}.maxAge"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        },
        None => None,
    };
    Some(Cors {
        allow_origins,
        allow_methods: c.allow_methods.clone(),
        allow_headers: c.allow_headers.clone(),
        expose_headers: c.expose_headers.clone(),
        max_age_s,
        allow_credentials: c.allow_credentials,
        ignore_unmatched_preflights: c.unmatched_preflights.as_deref() == Some("IGNORE"),
    })
}
