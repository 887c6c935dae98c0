//! The names the filters and the Envoy configuration that runs them must agree on.
//!
//! The filters (`filters/{router,host-filter,egress-audit}`) define or read these names at run
//! time; the renderer (`operator/envoy`) writes them into the Envoy configuration; the test
//! hosts (`wasm-tests`, the end-to-end tests) set them up the way the renderer does. A name
//! spelled differently on the two sides fails silently (an Envoy route that never sees its
//! cluster, a root id that matches no root context, a metric nobody scrapes), so each lives
//! here once and both sides use the constant.
//!
//! Changing any value is a change visible to users (Envoy configuration, metric names): the
//! test at the bottom of this file pins them.

/// The request header the router writes the chosen upstream cluster into. Envoy's single
/// catch-all route reads it with `cluster_header`, so the router overwrites any value a client
/// sent, and the renderer strips it from requests before they go upstream
/// (`request_headers_to_remove`).
pub const CLUSTER_HEADER: &str = "x-portcullis-cluster";

/// The request header the router sets when a forwarded request's retry policy is not Istio's
/// mesh default: a VirtualService's own `retries`, or retries off (V-24). The renderer gives
/// Envoy two catch-all routes on [`CLUSTER_HEADER`]: one for requests carrying this header,
/// with no retry policy, so only the `x-envoy-*` retry headers the router wrote apply; and one
/// for all others, with the mesh default policy ([`MESH_DEFAULT_RETRY_ON`],
/// [`MESH_DEFAULT_RETRY_ATTEMPTS`]), so a request with the default costs no header writes.
/// Envoy ORs `x-envoy-retry-on` into a route's own `retry_on`, which is why a request with its
/// own policy cannot simply take the default route. The renderer strips the header from client
/// requests before any filter runs and from requests before they go upstream.
pub const OWN_RETRIES_HEADER: &str = "x-portcullis-own-retries";

/// Istio's mesh default retry conditions (V-24): what a route without `retries` retries on,
/// and what `retries` without `retryOn` retries on.
pub const MESH_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
/// Istio's mesh default number of retries (V-24).
pub const MESH_DEFAULT_RETRY_ATTEMPTS: u32 = 2;

/// The prefix of Envoy's own control headers (`x-envoy-upstream-rq-timeout-ms`,
/// `x-envoy-max-retries`, `x-envoy-original-path`, …), which the router writes and Envoy's
/// router reads.
pub const ENVOY_HEADER_PREFIX: &str = "x-envoy-";

/// True for a header configuration may never set, add or remove (S-8): [`CLUSTER_HEADER`],
/// [`OWN_RETRIES_HEADER`] and Envoy's `x-envoy-*` control headers. The router applies a route's header operations before
/// Envoy's router reads the request, so such an operation would choose the cluster, the
/// timeout or the retries by the back door. `name` is compared case-insensitively.
pub fn is_reserved_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(CLUSTER_HEADER)
        || name.eq_ignore_ascii_case(OWN_RETRIES_HEADER)
        || name
            .get(..ENVOY_HEADER_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(ENVOY_HEADER_PREFIX))
}

/// Root id of the router (`PluginConfig.root_id`): host filtering and routing in one pass.
pub const ROUTER_ROOT_ID: &str = "router";
/// Root id of the host filter: Gateway `hosts` filtering alone, in front of native routes.
pub const HOST_FILTER_ROOT_ID: &str = "host_filter";
/// Root id of the egress filter's HTTP variant (allow-list and one audit record per request).
pub const EGRESS_AUDIT_ROOT_ID: &str = "egress_audit";
/// Root id of the egress filter's network variant (TLS passthrough, by SNI). The egress
/// module reads its root id (`plugin_root_id`) to know which kind of root context it is.
pub const EGRESS_AUDIT_TCP_ROOT_ID: &str = "egress_audit_tcp";

/// Envoy name of the router's HTTP filter: its name in the HTTP connection manager and its
/// ECDS resource name (the renderer writes both, and `portcullis up` reports updates by it).
pub const ROUTER_FILTER: &str = "portcullis.router";
/// Envoy name of the egress filter's HTTP filter (HCM entry and ECDS resource).
pub const EGRESS_AUDIT_FILTER: &str = "portcullis.egress_audit";
/// `PluginConfig.name` of the egress filter's network filter (TLS passthrough listeners).
pub const EGRESS_AUDIT_TCP_FILTER: &str = "portcullis.egress_audit_tcp";

/// Prefix of the router's metrics (`portcullis.router.routed`, …), as the filter defines them.
pub const ROUTER_METRICS: &str = "portcullis.router.";
/// Prefix of the host filter's metrics (`portcullis.host_filter.allowed`, …).
pub const HOST_FILTER_METRICS: &str = "portcullis.host_filter.";
/// Prefix of the egress filter's metrics, both root ids (`portcullis.egress.denied`, …).
pub const EGRESS_METRICS: &str = "portcullis.egress.";
/// What Envoy puts in front of every metric a wasm module defines: the router's `routed`
/// counter is `wasmcustom.portcullis.router.routed` in Envoy's stats.
pub const ENVOY_METRICS_PREFIX: &str = "wasmcustom.";

/// File name of the router module (`cargo build --release --target wasm32-wasip1`).
pub const ROUTER_MODULE: &str = "portcullis_router.wasm";
/// File name of the host filter module.
pub const HOST_FILTER_MODULE: &str = "portcullis_host_filter.wasm";
/// File name of the egress module (both egress root ids).
pub const EGRESS_AUDIT_MODULE: &str = "portcullis_egress_audit.wasm";

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract is visible to users (Envoy configuration, dashboards): a change here must
    /// be deliberate, so the values are pinned once more, as literals.
    /// S-8: the cluster header and Envoy's control headers, in any case, are reserved.
    #[test]
    fn reserved_headers() {
        for name in [
            "x-portcullis-cluster",
            "X-Portcullis-Cluster",
            "x-envoy-upstream-rq-timeout-ms",
            "X-Envoy-Max-Retries",
            "x-envoy-",
            "X-Portcullis-Own-Retries",
        ] {
            assert!(is_reserved_header(name), "{name}");
        }
        for name in [
            "x-portcullis-clusterx",
            "x-envoy",
            "envoy-x",
            "x-request-id",
            "",
            "é",
        ] {
            assert!(!is_reserved_header(name), "{name}");
        }
    }

    #[test]
    fn values_are_pinned() {
        assert_eq!(CLUSTER_HEADER, "x-portcullis-cluster");
        assert_eq!(OWN_RETRIES_HEADER, "x-portcullis-own-retries");
        assert_eq!(
            (MESH_DEFAULT_RETRY_ON, MESH_DEFAULT_RETRY_ATTEMPTS),
            (
                "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
                2
            )
        );
        assert_eq!(
            [
                ROUTER_ROOT_ID,
                HOST_FILTER_ROOT_ID,
                EGRESS_AUDIT_ROOT_ID,
                EGRESS_AUDIT_TCP_ROOT_ID
            ],
            ["router", "host_filter", "egress_audit", "egress_audit_tcp"]
        );
        assert_eq!(
            [ROUTER_FILTER, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER],
            [
                "portcullis.router",
                "portcullis.egress_audit",
                "portcullis.egress_audit_tcp"
            ]
        );
        assert_eq!(
            [
                ROUTER_METRICS,
                HOST_FILTER_METRICS,
                EGRESS_METRICS,
                ENVOY_METRICS_PREFIX
            ],
            [
                "portcullis.router.",
                "portcullis.host_filter.",
                "portcullis.egress.",
                "wasmcustom."
            ]
        );
        assert_eq!(
            [ROUTER_MODULE, HOST_FILTER_MODULE, EGRESS_AUDIT_MODULE],
            [
                "portcullis_router.wasm",
                "portcullis_host_filter.wasm",
                "portcullis_egress_audit.wasm"
            ]
        );
    }
}
