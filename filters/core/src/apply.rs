//! What a decision becomes in Envoy's headers: the request headers of a forwarded request and
//! the response headers of its answer, in the order Envoy would apply them.
//!
//! Pure: the filter hands in its host calls through [`RequestHeaderHost`] and
//! [`ResponseHeaderHost`], so the translation and its order are tested natively (see the tests
//! below), and the router only maps the traits onto proxy-wasm host calls.

use crate::ForwardPlan;
use crate::contract::{CLUSTER_HEADER, OWN_RETRIES_HEADER};
use crate::wire::HeaderOperations;

/// Where Envoy keeps the path a route rewrite replaced; access logs show it (Istio logs it as
/// the request path), so the router keeps it too when it rewrites `:path` (V-21).
pub const ORIGINAL_PATH_HEADER: &str = "x-envoy-original-path";
/// The per-request upstream timeout Envoy's router honours (V-24).
pub const UPSTREAM_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-timeout-ms";
/// The number of retries Envoy's router honours (V-24).
pub const MAX_RETRIES_HEADER: &str = "x-envoy-max-retries";
/// The retry conditions Envoy's router honours (V-24).
pub const RETRY_ON_HEADER: &str = "x-envoy-retry-on";
/// The per-try timeout Envoy's router honours (V-24).
pub const PER_TRY_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-per-try-timeout-ms";

/// The request-phase host calls a forward needs.
pub trait RequestHeaderHost {
    /// Overwrites (or adds) a request header.
    fn set_request_header(&mut self, name: &str, value: &str);
    /// Appends a request header value.
    fn add_request_header(&mut self, name: &str, value: &str);
    /// Removes a request header (nothing when absent).
    fn remove_request_header(&mut self, name: &str);
}

/// The response-phase host calls a forwarded request's answer needs.
pub trait ResponseHeaderHost {
    /// Overwrites (or adds) a response header.
    fn set_response_header(&mut self, name: &str, value: &str);
    /// Appends a response header value.
    fn add_response_header(&mut self, name: &str, value: &str);
    /// Removes a response header (nothing when absent).
    fn remove_response_header(&mut self, name: &str);
}

/// Applies a forward plan to the request headers, in this order:
///
/// 1. the chosen cluster into [`CLUSTER_HEADER`], overwriting any value the client sent;
/// 2. a path rewrite: `original_path` (the `:path` as received) into
///    [`ORIGINAL_PATH_HEADER`], then the new `:path` (V-21);
/// 3. an authority rewrite into `:authority` (V-21, V-22);
/// 4. the header operations, route then destination, each in Envoy's order (V-22, see
///    [`apply_request_operations`]);
/// 5. the timeout and retry headers (V-24): none for Istio's mesh default policy, which the
///    Envoy route the request takes applies by itself; otherwise [`OWN_RETRIES_HEADER`], which
///    selects the route without a retry policy, then the policy's own headers (none when
///    retries are off).
///
/// No explicit route-cache clear: Envoy (1.33 and later) clears the route it cached before the
/// filter ran on every request-header write of a module built for ABI 0.2.1, which is the ABI
/// the proxy-wasm SDK's modules export, so the cluster header write is enough. The explicit
/// `clear_route_cache` foreign function cost a host call and a lookup in Envoy's registry per
/// request (bench/attribution.sh). A module built for a newer ABI would need it again; the
/// end-to-end tests, which route through a real Envoy on the cluster header, fail if so.
pub fn apply_forward(
    plan: &ForwardPlan<'_>,
    original_path: &str,
    host: &mut impl RequestHeaderHost,
) {
    host.set_request_header(CLUSTER_HEADER, plan.cluster);
    if let Some(path) = &plan.path {
        host.set_request_header(ORIGINAL_PATH_HEADER, original_path);
        host.set_request_header(":path", path);
    }
    if let Some(authority) = plan.authority {
        host.set_request_header(":authority", authority);
    }
    for ops in &plan.request_headers {
        apply_request_operations(ops, host);
    }
    if let Some(timeout) = plan.timeout_ms {
        host.set_request_header(UPSTREAM_TIMEOUT_HEADER, &timeout.to_string());
    }
    match plan.retries {
        Some(retries) if retries.is_mesh_default() => {}
        Some(retries) => {
            host.set_request_header(OWN_RETRIES_HEADER, "1");
            apply_retries(retries, host);
        }
        None => host.set_request_header(OWN_RETRIES_HEADER, "1"),
    }
}

/// A retry policy of its own as the headers Envoy's router honours.
fn apply_retries(retries: &crate::wire::Retries, host: &mut impl RequestHeaderHost) {
    host.set_request_header(MAX_RETRIES_HEADER, &retries.attempts.to_string());
    if let Some(on) = &retries.retry_on {
        host.set_request_header(RETRY_ON_HEADER, on);
    }
    if let Some(per_try) = retries.per_try_timeout_ms {
        host.set_request_header(PER_TRY_TIMEOUT_HEADER, &per_try.to_string());
    }
}

/// One set of request header operations in Envoy's order: remove, then set, then add.
pub fn apply_request_operations(ops: &HeaderOperations, host: &mut impl RequestHeaderHost) {
    for name in &ops.remove {
        host.remove_request_header(name);
    }
    for (name, value) in &ops.set {
        host.set_request_header(name, value);
    }
    for (name, value) in &ops.add {
        host.add_request_header(name, value);
    }
}

/// Applies the response side of a forward: each set of `operations` (route then destination,
/// as [`crate::Gateway::response_operations`] lends them) in Envoy's order, remove, set, add
/// (V-22); then the CORS headers of an allowed origin, set (V-24).
pub fn apply_response<'o>(
    operations: impl IntoIterator<Item = &'o HeaderOperations>,
    cors_headers: &[(&str, String)],
    host: &mut impl ResponseHeaderHost,
) {
    for ops in operations {
        for name in &ops.remove {
            host.remove_response_header(name);
        }
        for (name, value) in &ops.set {
            host.set_response_header(name, value);
        }
        for (name, value) in &ops.add {
            host.add_response_header(name, value);
        }
    }
    for (name, value) in cors_headers {
        host.set_response_header(name, value);
    }
}

/// The headers of a local answer (a redirect or direct response) that carries a route's
/// response operations: `set` and `add` become headers of the answer, appended to `headers`;
/// `remove` has nothing to remove from a response the filter builds itself.
pub fn local_response_headers<'o>(
    headers: &mut Vec<(&'o str, &'o str)>,
    ops: Option<&'o HeaderOperations>,
) {
    if let Some(ops) = ops {
        headers.extend(ops.set.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        headers.extend(ops.add.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
}

/// The request headers of a mirrored copy (V-24): the forwarded request's headers, with
/// Envoy's `-shadow` suffix on the authority so the mirror can tell copies apart, and without
/// [`CLUSTER_HEADER`], which is Envoy's routing input and not the request's.
pub fn mirror_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut copy = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if name == ":authority" {
            copy.push((name, format!("{value}-shadow")));
        } else if name != CLUSTER_HEADER {
            copy.push((name, value));
        }
    }
    copy
}

#[cfg(test)]
mod tests;
