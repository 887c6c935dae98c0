//! The router's metrics, under [`ROUTER_METRICS`] (Envoy exposes them as
//! `wasmcustom.portcullis.router.*`).

use portcullis_core::contract::ROUTER_METRICS;
use portcullis_glue::{ConfigMetrics, Counter};

/// Counters and gauges of one root context.
#[derive(Clone, Copy, Debug)]
pub struct RouterMetrics {
    /// Requests forwarded upstream.
    pub routed: Counter,
    /// Requests refused because the host is not served or no route matched (404).
    pub unrouted: Counter,
    /// Requests refused for their host (a subset of `unrouted`).
    pub refused: Counter,
    /// Redirects answered (route redirects and httpsRedirect).
    pub redirected: Counter,
    /// Direct responses and CORS preflights answered.
    pub answered: Counter,
    /// Fault aborts injected.
    pub aborted: Counter,
    /// Fault delays injected.
    pub delayed: Counter,
    /// Mirror callouts dispatched.
    pub mirrored: Counter,
    /// Mirror callouts the host refused.
    pub mirror_failed: Counter,
    /// Configurations accepted and rejected, and the serving version.
    pub config: ConfigMetrics,
}

impl RouterMetrics {
    /// Defines the metrics.
    pub fn define() -> Self {
        let c = |name: &str| Counter::define(&format!("{ROUTER_METRICS}{name}"));
        RouterMetrics {
            routed: c("routed"),
            unrouted: c("unrouted"),
            refused: c("refused"),
            redirected: c("redirected"),
            answered: c("answered"),
            aborted: c("aborted"),
            delayed: c("delayed"),
            mirrored: c("mirrored"),
            mirror_failed: c("mirror_failed"),
            config: ConfigMetrics::define(ROUTER_METRICS),
        }
    }
}
