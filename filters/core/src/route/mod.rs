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
mod validate;

pub use cors::{CompiledCors, CorsVerdict};
pub use draw::{fires, pick_weighted};
pub use matcher::{CompiledMatch, UriKind, header};
pub use query::first_param;
pub use redirect::{https_location, location};
pub use rewrite::PathRewrite;

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::wire::{Action, Destination, Forward, HeaderOperations, HeaderOperationsPair, Route};
use crate::{Entropy, ForwardPlan, Outcome, RequestView};

/// One compiled route: the wire route (for evidence and pass-through fields) and its matchers.
#[derive(Clone, Debug)]
pub struct CompiledRoute {
    wire: Route,
    matcher: CompiledMatch,
    path_rewrite: Option<PathRewrite>,
    cors: Option<CompiledCors>,
    total_weight: u64,
}

/// Stand-in for an impossible empty destination list (see `forward_plan`).
static NO_DESTINATION: Destination = Destination {
    cluster: String::new(),
    weight: 0,
    headers: HeaderOperationsPair {
        request: NO_OPS,
        response: NO_OPS,
    },
};

const NO_OPS: HeaderOperations = HeaderOperations {
    set: BTreeMap::new(),
    add: BTreeMap::new(),
    remove: Vec::new(),
};

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
        let matcher = CompiledMatch::compile(&route.matcher)
            .map_err(|(field, pattern, e)| validate::regex_error(at, &field, pattern, e))?;
        let (path_rewrite, total_weight) = validate::action(route, at)?;
        validate::fault(route, at)?;
        validate::mirrors(route, at)?;
        let cors = match &route.cors {
            None => None,
            Some(c) => Some(CompiledCors::compile(c).map_err(|(i, e)| {
                let text = validate::regex_text(c.allow_origins.get(i));
                validate::regex_error(at, &format!("cors.allowOrigins[{i}]"), text, e)
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
        Outcome::Forward(self.forward_plan(forward, input, delay_ms, cors_headers, entropy))
    }

    /// The forward plan: destination (V-18), rewrite (V-21), header operations (V-22),
    /// mirrors, timeout and retries (V-24).
    fn forward_plan<'g>(
        &'g self,
        forward: &'g Forward,
        input: &RouteInput<'_>,
        delay_ms: Option<u64>,
        cors_response_headers: Vec<(&'static str, String)>,
        entropy: &mut dyn Entropy,
    ) -> ForwardPlan<'g> {
        let route = &self.wire;
        let idx = pick_weighted(&forward.destinations, self.total_weight, entropy);
        // Compile refuses a forward without destinations, so the fallback is never used; it
        // keeps the request path free of panics.
        let dest = forward.destinations.get(idx).unwrap_or(&NO_DESTINATION);
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
        ForwardPlan {
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
            cors_response_headers,
            cors: route.cors.as_ref(),
        }
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
