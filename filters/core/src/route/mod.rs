//! Route matching and actions of one virtual host (V-5 … V-24).
//!
//! A virtual host holds its routes in Istio's order; the first route whose conditions all hold
//! wins (V-5, V-8). OR across an `HTTPRoute`'s match blocks is already expanded by the compiler
//! into consecutive wire routes. The chosen route then yields an [`Outcome`]: CORS preflight
//! (the CORS filter runs before the fault filter), fault (V-23), then the action.

mod cors;
mod draw;
mod index;
mod matcher;
mod query;
mod redirect;
mod rewrite;
mod validate;

pub use cors::{CompiledCors, CorsVerdict};
pub use draw::{fires, pick_weighted};
pub use index::{LINEAR_UP_TO, PathIndex};
pub use matcher::CompiledMatch;
pub use redirect::{https_location, location};
pub use rewrite::PathRewrite;

use crate::error::ConfigError;
use crate::wire::{
    Action, Destination, Fault, Forward, HeaderOperations, HeaderOperationsPair, Mirror, Redirect,
    Retries, Route,
};
use crate::{Entropy, ForwardHandle, ForwardPlan, Outcome, RequestView};

/// One compiled route: what the evidence names, its matchers, and its action compiled so that
/// the invariants `compile` checks are in the types (a forward has destinations; only a
/// forward has a fault, V-17).
#[derive(Clone, Debug)]
pub struct CompiledRoute {
    name: String,
    virtual_service: String,
    matcher: CompiledMatch,
    /// Route-level header operations (V-22).
    headers: HeaderOperationsPair,
    cors: Option<CompiledCors>,
    action: CompiledAction,
}

/// A route's action.
#[derive(Clone, Debug)]
enum CompiledAction {
    Forward(Box<CompiledForward>),
    Redirect(Redirect),
    DirectResponse(CompiledDirect),
}

/// A direct response with its body decoded (V-20).
#[derive(Clone, Debug)]
struct CompiledDirect {
    status: u16,
    body: Vec<u8>,
}

/// A forward (V-18, V-21 … V-24) with everything that applies only to forwarded requests.
#[derive(Clone, Debug)]
struct CompiledForward {
    destinations: Destinations,
    path_rewrite: Option<PathRewrite>,
    /// `rewrite.authority`.
    authority: Option<String>,
    fault: Option<Fault>,
    mirrors: Vec<Mirror>,
    timeout_ms: Option<u64>,
    retries: Option<Retries>,
}

/// The weighted destinations of a forward: never empty (compile refuses a forward without
/// destinations), so a weighted draw always names one.
#[derive(Clone, Debug)]
pub struct Destinations {
    first: Destination,
    rest: Vec<Destination>,
    /// The sum of the weights (positive when there are several, V-18).
    total_weight: u64,
}

impl Destinations {
    /// The destinations of `list`, or `None` when it is empty.
    pub fn new(list: &[Destination]) -> Option<Self> {
        let (first, rest) = list.split_first()?;
        Some(Destinations {
            first: first.clone(),
            rest: rest.to_vec(),
            total_weight: list.iter().map(|d| u64::from(d.weight)).sum(),
        })
    }

    /// The destinations in wire order.
    pub fn iter(&self) -> impl Iterator<Item = &Destination> {
        std::iter::once(&self.first).chain(&self.rest)
    }

    /// How many there are (at least one).
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// The sum of the weights.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// The first destination (the only one of a single-destination forward).
    pub fn first(&self) -> &Destination {
        &self.first
    }

    /// The destination at `index` in wire order.
    pub fn get(&self, index: usize) -> Option<&Destination> {
        match index.checked_sub(1) {
            None => Some(&self.first),
            Some(i) => self.rest.get(i),
        }
    }
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
        let matcher = CompiledMatch::compile(&route.matcher)
            .map_err(|(field, pattern, e)| validate::regex_error(at, &field, pattern, e))?;
        let path_rewrite = validate::action(route, at)?;
        validate::fault(route, at)?;
        validate::mirrors(route, at)?;
        validate::header_operations(route, at)?;
        let cors = match &route.cors {
            None => None,
            Some(c) => Some(CompiledCors::compile(c).map_err(|(i, e)| {
                let text = validate::regex_text(c.allow_origins.get(i));
                validate::regex_error(at, &format!("cors.allowOrigins[{i}]"), text, e)
            })?),
        };
        let action = match &route.action {
            Action::Route(forward) => CompiledAction::Forward(Box::new(compile_forward(
                route,
                forward,
                path_rewrite,
                at,
            )?)),
            Action::Redirect(r) => CompiledAction::Redirect(r.clone()),
            Action::DirectResponse(d) => CompiledAction::DirectResponse(CompiledDirect {
                status: d.status,
                body: validate::direct_body(d, at)?,
            }),
        };
        Ok(CompiledRoute {
            name: route.name.clone(),
            virtual_service: route.virtual_service.clone(),
            matcher,
            headers: route.headers.clone(),
            cors,
            action,
        })
    }

    /// The route's name (evidence).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The VirtualService the route came from (`namespace/name`), empty when unknown.
    pub fn virtual_service(&self) -> &str {
        &self.virtual_service
    }

    /// The compiled conditions.
    pub fn matcher(&self) -> &CompiledMatch {
        &self.matcher
    }

    /// True when the route's CORS policy reads `Origin` and preflight headers.
    pub fn has_cors(&self) -> bool {
        self.cors.is_some()
    }

    /// True when deciding on this route reads `:method`: its conditions, or its CORS policy
    /// (preflights are `OPTIONS`).
    pub fn reads_method(&self) -> bool {
        self.matcher.reads_method() || self.cors.is_some()
    }

    /// True when deciding on this route reads `:scheme`: its conditions, or a redirect (the
    /// `Location` keeps the request's scheme unless the redirect names one, V-19).
    pub fn reads_scheme(&self) -> bool {
        self.matcher.reads_scheme() || matches!(self.action, CompiledAction::Redirect(_))
    }

    /// True when deciding on this route reads `:path`: its conditions, a path rewrite (which
    /// also keeps the original in `x-envoy-original-path`), or a redirect (the `Location`
    /// keeps the path or its query, V-19).
    pub fn reads_path(&self) -> bool {
        self.matcher.reads_path()
            || match &self.action {
                CompiledAction::Forward(f) => f.path_rewrite.is_some(),
                CompiledAction::Redirect(_) => true,
                CompiledAction::DirectResponse(_) => false,
            }
    }

    /// True when every condition of the route holds.
    pub fn matches(&self, input: &RouteInput<'_>) -> bool {
        self.matcher.matches(&input.req, input.path, input.query)
    }

    /// What to do with a request this route matched; `index` is the route's index in its
    /// gateway, which a forward's [`ForwardHandle`] names.
    pub fn outcome<'g>(
        &'g self,
        index: usize,
        input: &RouteInput<'_>,
        entropy: &mut dyn Entropy,
    ) -> Outcome<'g> {
        let mut cors_headers = Vec::new();
        if let Some(cors) = &self.cors {
            match cors.evaluate(&input.req) {
                CorsVerdict::Preflight(headers) => return Outcome::CorsPreflight { headers },
                CorsVerdict::Actual(headers) => cors_headers = headers,
                CorsVerdict::None => {}
            }
        }
        let response_headers = non_empty(&self.headers.response);
        let forward = match &self.action {
            CompiledAction::Redirect(r) => {
                return Outcome::Redirect {
                    status: r.code,
                    location: location(r, &input.req, input.listener_port, self.matcher.uri_kind()),
                    response_headers,
                };
            }
            CompiledAction::DirectResponse(d) => {
                return Outcome::DirectResponse {
                    status: d.status,
                    body: &d.body,
                    response_headers,
                };
            }
            CompiledAction::Forward(f) => f,
        };
        // Delay and abort are drawn independently (V-23), delay first.
        let fault = forward.fault.as_ref();
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
        Outcome::Forward(self.forward_plan(index, forward, input, delay_ms, cors_headers, entropy))
    }

    /// The response header operations for destination `destination` (its index in wire
    /// order): the route's, then the destination's, empty ones skipped (V-22).
    pub fn response_operations(
        &self,
        destination: usize,
    ) -> impl Iterator<Item = &HeaderOperations> {
        let dest = match &self.action {
            CompiledAction::Forward(f) => f.destinations.get(destination),
            CompiledAction::Redirect(_) | CompiledAction::DirectResponse(_) => None,
        };
        std::iter::once(&self.headers.response)
            .chain(dest.map(|d| &d.headers.response))
            .filter(|ops| !ops.is_empty())
    }

    /// The forward plan: destination (V-18), rewrite (V-21), header operations (V-22),
    /// mirrors, timeout and retries (V-24).
    fn forward_plan<'g>(
        &'g self,
        index: usize,
        forward: &'g CompiledForward,
        input: &RouteInput<'_>,
        delay_ms: Option<u64>,
        cors_response_headers: Vec<(&'static str, String)>,
        entropy: &mut dyn Entropy,
    ) -> ForwardPlan<'g> {
        let (destination, dest) = pick_weighted(&forward.destinations, entropy);
        let raw = input
            .req
            .path
            .split_once('#')
            .map_or(input.req.path, |(p, _)| p);
        let path = forward
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
            handle: ForwardHandle {
                route: index,
                destination,
            },
            cluster: &dest.cluster,
            path,
            authority: chosen_authority(forward, dest, &self.headers.request),
            request_headers: both(&self.headers.request, &dest.headers.request),
            response_headers: both(&self.headers.response, &dest.headers.response),
            delay_ms,
            timeout_ms: forward.timeout_ms,
            retries: forward.retries.as_ref(),
            mirrors: forward
                .mirrors
                .iter()
                .filter(|m| fires(m.percentage, entropy))
                .map(|m| m.cluster.as_str())
                .collect(),
            cors_response_headers,
            cors: self.cors.as_ref().map(CompiledCors::policy),
        }
    }
}

/// The forward-only parts of `route` (V-17: compile has refused a fault on another action).
fn compile_forward(
    route: &Route,
    forward: &Forward,
    path_rewrite: Option<PathRewrite>,
    at: &str,
) -> Result<CompiledForward, ConfigError> {
    let destinations = Destinations::new(&forward.destinations)
        .ok_or_else(|| validate::invalid(at, "action.route.destinations", "no destination"))?;
    Ok(CompiledForward {
        destinations,
        path_rewrite,
        authority: forward.rewrite.as_ref().and_then(|r| r.authority.clone()),
        fault: route.fault.clone(),
        mirrors: route.mirrors.clone(),
        timeout_ms: route.timeout_ms,
        retries: route.retries.clone(),
    })
}

/// The `:authority` a forwarded request carries (V-21, V-22), as Istio renders it for Envoy:
/// the route's rewrite (`rewrite.authority`, else the header form) wins; the chosen
/// destination's own authority applies only when the route has none. Istio keeps that order
/// for one destination and for several alike, because Envoy applies a route-level host rewrite
/// after a weighted cluster's.
fn chosen_authority<'g>(
    forward: &'g CompiledForward,
    dest: &'g Destination,
    route_request_ops: &'g HeaderOperations,
) -> Option<&'g str> {
    forward
        .authority
        .as_deref()
        .or_else(|| authority_set_by(route_request_ops))
        .or(dest.authority.as_deref())
        .or_else(|| authority_set_by(&dest.headers.request))
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
