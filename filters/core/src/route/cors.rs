//! CORS (V-24), as Envoy's CORS filter applies a route's policy: a preflight from an allowed
//! origin is answered locally; an actual request from an allowed origin gets the response
//! headers added.

use crate::RequestView;
use crate::strmatch::{RegexError, StrMatcher};
use crate::wire::Cors;

use super::matcher::header;

/// A compiled CORS policy: the policy as written and its compiled origin matchers, together,
/// so the one cannot be evaluated without the other.
#[derive(Clone, Debug)]
pub struct CompiledCors {
    policy: Cors,
    origins: Vec<StrMatcher>,
}

/// What the CORS policy does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsVerdict {
    /// Not a CORS request, or one from an origin the policy does not allow: nothing to add.
    None,
    /// Answer the preflight locally with these headers (empty for an ignored preflight).
    Preflight(Vec<(&'static str, String)>),
    /// Forward, adding these response headers.
    Actual(Vec<(&'static str, String)>),
}

impl CompiledCors {
    /// Compiles the origin matchers; the error carries the index of the bad origin.
    pub fn compile(c: &Cors) -> Result<Self, (usize, RegexError)> {
        let origins = c
            .allow_origins
            .iter()
            .enumerate()
            .map(|(i, o)| StrMatcher::compile(o, false).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(CompiledCors {
            policy: c.clone(),
            origins,
        })
    }

    /// The policy as written.
    pub fn policy(&self) -> &Cors {
        &self.policy
    }

    /// Evaluates the policy for a request.
    pub fn evaluate(&self, req: &RequestView<'_>) -> CorsVerdict {
        let policy = &self.policy;
        let Some(origin) = header(req, "origin") else {
            return CorsVerdict::None;
        };
        // Envoy also accepts any origin when a matcher accepts the literal `*`.
        let allowed = self
            .origins
            .iter()
            .any(|m| m.matches("*") || m.matches(origin));
        let preflight =
            req.method == "OPTIONS" && header(req, "access-control-request-method").is_some();
        match (preflight, allowed) {
            (true, true) => CorsVerdict::Preflight(preflight_headers(policy, origin)),
            // Envoy forwards a non-matching preflight unless told to ignore it, in which case
            // it answers locally with no CORS header, so the browser refuses the request.
            (true, false) if policy.ignore_unmatched_preflights => {
                CorsVerdict::Preflight(Vec::new())
            }
            (false, true) => CorsVerdict::Actual(actual_headers(policy, origin)),
            _ => CorsVerdict::None,
        }
    }
}

fn common(policy: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    let mut h = vec![("access-control-allow-origin", origin.to_string())];
    if policy.allow_credentials == Some(true) {
        h.push(("access-control-allow-credentials", "true".to_string()));
    }
    h
}

fn preflight_headers(policy: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    let mut h = common(policy, origin);
    // Istio joins the lists with `,` when it writes Envoy's policy.
    if !policy.allow_methods.is_empty() {
        h.push((
            "access-control-allow-methods",
            policy.allow_methods.join(","),
        ));
    }
    if !policy.allow_headers.is_empty() {
        h.push((
            "access-control-allow-headers",
            policy.allow_headers.join(","),
        ));
    }
    if let Some(age) = policy.max_age_s {
        h.push(("access-control-max-age", age.to_string()));
    }
    h
}

fn actual_headers(policy: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    let mut h = common(policy, origin);
    if !policy.expose_headers.is_empty() {
        h.push((
            "access-control-expose-headers",
            policy.expose_headers.join(","),
        ));
    }
    h
}
