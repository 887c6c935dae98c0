//! The egress filter's metrics, under [`EGRESS_METRICS`] (Envoy exposes them as
//! `wasmcustom.portcullis.egress.*`).
//!
//! Every audit record made is counted in `audited` and ends in exactly one of `logged`,
//! `sent` or a `dropped_*` counter, or is still held (`buffered`, or on its way through the
//! shared queue for a moment): `audited == logged + sent + dropped + held`.

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
    /// Audit records made.
    pub audited: Counter,
    /// Audit records written to Envoy's log (the `log` sink, and refusals under
    /// `failureMode: closed`).
    pub logged: Counter,
    /// Audit records the collector acknowledged.
    pub sent: Counter,
    /// Audit records dropped, for any reason (the sum of the `dropped_*` counters).
    pub dropped: Counter,
    /// Dropped from a full buffer (`maxBuffered` records or `maxBufferedBytes` bytes).
    pub dropped_buffer_full: Counter,
    /// Dropped because the collector refused their batch for good (4xx but 408 and 429).
    pub dropped_rejected: Counter,
    /// Dropped at a reconfiguration: the new buffer had no room for them.
    pub dropped_reconfigure: Counter,
    /// Lost with a VM that trapped: counted by another VM's root from the held-records
    /// ledger once the dead VM's entry went stale.
    pub dropped_trap: Counter,
    /// Dropped because the shared queue refused them (no queue on this host).
    pub dropped_unqueued: Counter,
    /// Records a retired or reconfigured root context handed on (through the shared queue
    /// or to its new pipeline); a record handed on twice (picked up by another root that is
    /// then retired too) counts twice.
    pub handed_over: Counter,
    /// Collector batches that failed and are retried (no answer, 408, 429, 5xx).
    pub failed_batches: Counter,
    /// Collector batches refused for good.
    pub rejected_batches: Counter,
    /// Records waiting for the collector, summed over the VMs (one per worker and the main
    /// thread's, each with its own `maxBuffered` bound).
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
            logged: c("logged"),
            sent: c("sent"),
            dropped: c("dropped"),
            dropped_buffer_full: c("dropped_buffer_full"),
            dropped_rejected: c("dropped_rejected"),
            dropped_reconfigure: c("dropped_reconfigure"),
            dropped_trap: c("dropped_trap"),
            dropped_unqueued: c("dropped_unqueued"),
            handed_over: c("handed_over"),
            failed_batches: c("failed_batches"),
            rejected_batches: c("rejected_batches"),
            buffered: Gauge::define(&format!("{EGRESS_METRICS}buffered")),
            config: ConfigMetrics::define(EGRESS_METRICS),
        }
    }

    /// Counts `n` records dropped by the filter itself (not by the delivery machine).
    pub fn drop_unqueued(&self, n: u64) {
        self.dropped.add(n);
        self.dropped_unqueued.add(n);
    }
}
