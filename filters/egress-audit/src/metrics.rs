//! The egress filter's metrics, under [`EGRESS_METRICS`] (Envoy exposes them as
//! `wasmcustom.portcullis.egress.*`).

use portcullis_core::contract::EGRESS_METRICS;
use portcullis_glue::{ConfigMetrics, Counter, Gauge};

/// Counters and gauges of one root context.
#[derive(Clone, Copy, Debug)]
pub struct EgressMetrics {
    /// Requests or connections let through.
    pub allowed: Counter,
    /// Requests or connections denied by the allow-list.
    pub denied: Counter,
    /// Requests refused because audit records cannot be delivered (`failureMode: closed`).
    pub refused_audit_unavailable: Counter,
    /// Audit records written (to the log, or queued for the collector).
    pub audited: Counter,
    /// Audit records dropped (buffer full, queue refused).
    pub dropped: Counter,
    /// Audit records the collector acknowledged.
    pub sent: Counter,
    /// Collector batches that failed (non-2xx, timeout, dispatch refused).
    pub failed_batches: Counter,
    /// Records waiting for the collector on this worker.
    pub buffered: Gauge,
    /// Configurations accepted and rejected, and the serving version.
    pub config: ConfigMetrics,
}

impl EgressMetrics {
    /// Defines the metrics.
    pub fn define() -> Self {
        let c = |name: &str| Counter::define(&format!("{EGRESS_METRICS}{name}"));
        EgressMetrics {
            allowed: c("allowed"),
            denied: c("denied"),
            refused_audit_unavailable: c("refused_audit_unavailable"),
            audited: c("audited"),
            dropped: c("dropped"),
            sent: c("sent"),
            failed_batches: c("failed_batches"),
            buffered: Gauge::define(&format!("{EGRESS_METRICS}buffered")),
            config: ConfigMetrics::define(EGRESS_METRICS),
        }
    }
}
