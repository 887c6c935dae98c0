//! Route matching and actions of one virtual host (V-5 … V-24).
//!
//! A virtual host holds its routes in Istio's order; the first route whose conditions all hold
//! wins (V-5, V-8). OR across an `HTTPRoute`'s match blocks is already expanded by the compiler
//! into consecutive wire routes. The chosen route then yields an [`Outcome`]: CORS preflight
//! (the CORS filter runs before the fault filter), fault (V-23), then the action.

mod cors;
mod draw;
mod matcher;
mod query;
mod redirect;
mod rewrite;

pub use cors::{CompiledCors, CorsVerdict};
pub use draw::{fires, pick_weighted};
pub use matcher::{CompiledMatch, UriKind, header};
pub use query::first_param;
pub use redirect::{https_location, location};
pub use rewrite::PathRewrite;

use crate::config::{Action, HeaderOperations, Route};
use crate::error::ConfigError;
use crate::{Entropy, ForwardPlan, Outcome, RequestView};

/// Redirect codes Istio turns into an Envoy redirect (V-19).
const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// One compiled route: the wire route (for evidence and pass-through fields) and its matchers.
#[derive(Clone, Debug)]
pub struct CompiledRoute {
    wire: Route,
    matcher: CompiledMatch,
    path_rewrite: Option<PathRewrite>,
    cors: Option<CompiledCors>,
    total_weight: u64,
}

/// The request parts a route evaluation needs, split once per request.
#[derive(Clone, Copy, Debug)]
pub struct RouteInput<'r> {
    /// The request.
    pub req: RequestView<'r>,
    /// `:path` without query and fragment.
    pub path: &'r str,
    /// The query string without `?`.
    pub query: &'r str,
    /// The Gateway server port as written (for `FROM_REQUEST_PORT`).
    pub listener_port: u16,
}

impl CompiledRoute {
    /// Validates and compiles a wire route; `at` is its field path.
    pub fn compile(route: &Route, at: &str) -> Result<Self, ConfigError> {
        let regex_err = |field: &str, pattern: String, e: crate::strmatch::RegexError| {
            ConfigError::InvalidRegex {
                at: format!("{at}.{field}"),
                pattern,
                reason: e.0,
            }
        };
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            at: format!("{at}.{field}"),
            reason: reason.to_string(),
        };
        let matcher = CompiledMatch::compile(&route.matcher)
            .map_err(|(field, pattern, e)| regex_err(&field, pattern, e))?;
        let mut path_rewrite = None;
        let mut total_weight = 0;
        match &route.action {
            Action::Route(f) => {
                if f.destinations.is_empty() {
                    return Err(invalid("action.route.destinations", "no destination"));
                }
                total_weight = f.destinations.iter().map(|d| u64::from(d.weight)).sum();
                if f.destinations.len() > 1 && total_weight == 0 {
                    return Err(invalid("action.route.destinations", "weights sum to 0"));
                }
                if let Some(rw) = &f.rewrite {
                    if rw.uri.is_some() && rw.uri_regex.is_some() {
                        return Err(invalid(
                            "action.route.rewrite",
                            "uri and uriRegex are mutually exclusive",
                        ));
                    }
                    path_rewrite = PathRewrite::compile(rw).map_err(|(field, e)| {
                        let pattern = rw.uri_regex.as_ref().map_or_else(String::new, |r| {
                            if field.ends_with("pattern") {
                                r.pattern.clone()
                            } else {
                                r.substitution.clone()
                            }
                        });
                        regex_err(&format!("action.route.{field}"), pattern, e)
                    })?;
                }
            }
            Action::Redirect(r) => {
                if !REDIRECT_CODES.contains(&r.code) {
                    return Err(invalid(
                        "action.redirect.code",
                        "must be one of 301, 302, 303, 307, 308",
                    ));
                }
            }
            Action::DirectResponse(d) => {
                if !(200..=599).contains(&d.status) {
                    return Err(invalid("action.directResponse.status", "must be 200-599"));
                }
            }
        }
        if let Some(fault) = &route.fault {
            if !matches!(route.action, Action::Route(_)) {
                return Err(invalid("fault", "a fault needs a route action (V-17)"));
            }
            if let Some(d) = &fault.delay {
                check_percent(d.percentage, &format!("{at}.fault.delay.percentage"))?;
            }
            if let Some(a) = &fault.abort {
                check_percent(a.percentage, &format!("{at}.fault.abort.percentage"))?;
                match (a.http_status, a.grpc_status) {
                    (None, None) => {
                        return Err(invalid("fault.abort", "needs httpStatus or grpcStatus"));
                    }
                    (Some(s), _) if !(200..=599).contains(&s) => {
                        return Err(invalid("fault.abort.httpStatus", "must be 200-599"));
                    }
                    _ => {}
                }
            }
        }
        for (i, m) in route.mirrors.iter().enumerate() {
            check_percent(m.percentage, &format!("{at}.mirrors[{i}].percentage"))?;
        }
        let cors = match &route.cors {
            None => None,
            Some(c) => Some(CompiledCors::compile(c).map_err(|(i, e)| {
                let pattern = format!("{:?}", c.allow_origins.get(i));
                regex_err(&format!("cors.allowOrigins[{i}]"), pattern, e)
            })?),
        };
        Ok(CompiledRoute {
            wire: route.clone(),
            matcher,
            path_rewrite,
            cors,
            total_weight,
        })
    }

    /// The wire route.
    pub fn wire(&self) -> &Route {
        &self.wire
    }

    /// The compiled conditions.
    pub fn matcher(&self) -> &CompiledMatch {
        &self.matcher
    }

    /// True when the route's CORS policy reads `Origin` and preflight headers.
    pub fn has_cors(&self) -> bool {
        self.cors.is_some()
    }

    /// True when every condition of the route holds.
    pub fn matches(&self, input: &RouteInput<'_>) -> bool {
        self.matcher.matches(&input.req, input.path, input.query)
    }

    /// What to do with a request this route matched.
    pub fn outcome<'g>(&'g self, input: &RouteInput<'_>, entropy: &mut dyn Entropy) -> Outcome<'g> {
        let route = &self.wire;
        let mut cors_headers = Vec::new();
        if let (Some(compiled), Some(policy)) = (&self.cors, &route.cors) {
            match compiled.evaluate(policy, &input.req) {
                CorsVerdict::Preflight(headers) => return Outcome::CorsPreflight { headers },
                CorsVerdict::Actual(headers) => cors_headers = headers,
                CorsVerdict::None => {}
            }
        }
        let response_headers = non_empty(&route.headers.response);
        let forward = match &route.action {
            Action::Redirect(r) => {
                return Outcome::Redirect {
                    status: r.code,
                    location: location(r, &input.req, input.listener_port),
                    response_headers,
                };
            }
            Action::DirectResponse(d) => {
                return Outcome::DirectResponse {
                    status: d.status,
                    body: &d.body,
                    response_headers,
                };
            }
            Action::Route(f) => f,
        };
        // Delay and abort are drawn independently (V-23), delay first.
        let fault = route.fault.as_ref();
        let delay_ms = fault
            .and_then(|f| f.delay.as_ref())
            .filter(|d| fires(d.percentage, entropy))
            .map(|d| d.fixed_delay_ms);
        if let Some(a) = fault.and_then(|f| f.abort.as_ref())
            && fires(a.percentage, entropy)
        {
            return Outcome::Abort {
                // A gRPC abort answers 200 with `grpc-status`.
                status: a.http_status.unwrap_or(200),
                grpc_status: a.grpc_status,
            };
        }
        let idx = pick_weighted(&forward.destinations, self.total_weight, entropy);
        let Some(dest) = forward.destinations.get(idx) else {
            // Compile refuses routes without destinations; answer as Envoy does for a missing
            // cluster rather than panic.
            return Outcome::Refused(crate::Refusal::NoRoute);
        };
        let raw = input
            .req
            .path
            .split_once('#')
            .map_or(input.req.path, |(p, _)| p);
        let path = self
            .path_rewrite
            .as_ref()
            .map(|rw| rw.apply(raw, input.path, self.matcher.uri_kind()));
        let both = |route_ops: &'g HeaderOperations, dest_ops: &'g HeaderOperations| {
            [route_ops, dest_ops]
                .into_iter()
                .filter(|o| !o.is_empty())
                .collect::<Vec<_>>()
        };
        Outcome::Forward(ForwardPlan {
            cluster: &dest.cluster,
            path,
            // `rewrite.authority` wins over the header form; a destination's header form
            // overrides the route's, as Envoy's weighted-cluster host rewrite does (V-21, V-22).
            authority: forward
                .rewrite
                .as_ref()
                .and_then(|r| r.authority.as_deref())
                .or_else(|| authority_set_by(&dest.headers.request))
                .or_else(|| authority_set_by(&route.headers.request)),
            request_headers: both(&route.headers.request, &dest.headers.request),
            response_headers: both(&route.headers.response, &dest.headers.response),
            delay_ms,
            timeout_ms: route.timeout_ms,
            retries: route.retries.as_ref(),
            mirrors: route
                .mirrors
                .iter()
                .filter(|m| fires(m.percentage, entropy))
                .map(|m| m.cluster.as_str())
                .collect(),
            cors_response_headers: cors_headers,
            cors: route.cors.as_ref(),
        })
    }
}

/// `:authority` or `host` in a `set`/`add` operation, which Istio turns into an authority
/// rewrite (V-22).
fn authority_set_by(ops: &HeaderOperations) -> Option<&str> {
    [":authority", "host"]
        .iter()
        .find_map(|k| ops.set.get(*k).or_else(|| ops.add.get(*k)))
        .map(String::as_str)
}

fn non_empty(ops: &HeaderOperations) -> Option<&HeaderOperations> {
    (!ops.is_empty()).then_some(ops)
}

fn check_percent(p: f64, at: &str) -> Result<(), ConfigError> {
    if (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            at: at.to_string(),
            reason: format!("{p} is not in [0, 100]"),
        })
    }
}
