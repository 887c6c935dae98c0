//! Where audit records go: Envoy's log, or an HTTP collector.
//!
//! Collector path: streams enqueue each record on a shared queue (process-wide, keyed by
//! `vm_id`), so a record survives its stream; root contexts drain the queue on
//! `on_queue_ready` and on their tick into a [`Delivery`] (bounded buffer, batches, retry with
//! backoff), and POST each batch as JSON Lines with an HTTP callout.

use std::collections::HashMap;
use std::time::Duration;

use portcullis_core::audit::{Delivery, DeliveryStats};
use portcullis_core::wire::{AuditSink, FailureMode, HttpCollector};
use portcullis_glue::{abi, host};
use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

use crate::metrics::EgressMetrics;

/// The shared queue's name.
pub const QUEUE: &str = "portcullis.audit";

/// The audit sink of one root context.
#[derive(Debug)]
pub enum Pipeline {
    /// One JSON line per record in Envoy's log.
    Log,
    /// Batches to an HTTP collector.
    Collector(Box<Collector>),
}

/// Delivery to an HTTP collector.
#[derive(Debug)]
pub struct Collector {
    settings: HttpCollector,
    queue_id: Option<u32>,
    delivery: Delivery,
    /// Callout token → batch id.
    in_flight: HashMap<u32, u64>,
    /// Last counters reported to metrics, to report deltas.
    reported: DeliveryStats,
}

impl Pipeline {
    /// Builds the sink of a new configuration.
    pub fn new(sink: &AuditSink, failure_mode: FailureMode) -> Self {
        match sink {
            AuditSink::Log => Pipeline::Log,
            AuditSink::Http(settings) => {
                let queue_id = abi::register_shared_queue(QUEUE).ok();
                host::set_tick_period(Duration::from_millis(u64::from(
                    settings.flush_interval_ms.clamp(1, 1000),
                )));
                Pipeline::Collector(Box::new(Collector {
                    settings: settings.clone(),
                    queue_id,
                    delivery: Delivery::new(settings, failure_mode),
                    in_flight: HashMap::new(),
                    reported: DeliveryStats::default(),
                }))
            }
        }
    }

    /// Whether `failureMode: closed` currently refuses new egress.
    pub fn refuse_new_egress(&self) -> bool {
        match self {
            Pipeline::Log => false,
            Pipeline::Collector(c) => c.delivery.refuse_new_egress(),
        }
    }

    /// Hands one record (a JSON line) to the sink. Called from streams. The record of a
    /// request or connection refused because records cannot be delivered (`failureMode:
    /// closed`) is logged, never queued: queued, it would push out records still waiting for
    /// the collector.
    pub fn write(&self, line: String, refused_unaudited: bool, metrics: EgressMetrics) {
        metrics.audited.inc();
        match self {
            _ if refused_unaudited => host::log(LogLevel::Warn, &line),
            Pipeline::Log => host::log(LogLevel::Info, &line),
            Pipeline::Collector(c) => {
                let queued = c
                    .queue_id
                    .is_some_and(|id| abi::enqueue_shared_queue(id, line.as_bytes()).is_ok());
                if !queued {
                    metrics.dropped.inc();
                }
            }
        }
    }

    /// Drains the shared queue and sends what is due. Called on tick and on queue ready.
    pub fn pump(&mut self, now_ms: u64, metrics: EgressMetrics) {
        let Pipeline::Collector(c) = self else { return };
        c.drain_queue(metrics);
        while let Some(batch) = c.delivery.poll(now_ms) {
            let headers = vec![
                (":method", "POST"),
                (":path", c.settings.path.as_str()),
                (":authority", c.settings.authority.as_str()),
                ("content-type", "application/x-ndjson"),
            ];
            let timeout = Duration::from_millis(u64::from(c.settings.timeout_ms));
            // The SDK's call, not `abi`'s: it registers the token with the SDK's dispatcher,
            // which routes the answer to `on_http_call_response`; it returns every status
            // Envoy's `proxy_http_call` has (OK, BAD_ARGUMENT, INTERNAL_FAILURE).
            match hostcalls::dispatch_http_call(
                &c.settings.cluster,
                headers,
                Some(batch.body.as_bytes()),
                vec![],
                timeout,
            ) {
                Ok(token) => {
                    c.in_flight.insert(token, batch.id);
                    // One batch in flight at a time: the next poll returns None until answered.
                }
                Err(_) => {
                    c.delivery.on_result(batch.id, false, now_ms);
                    break;
                }
            }
        }
        c.report(metrics);
    }

    /// The collector answered (or the call failed: no headers).
    pub fn on_response(&mut self, token: u32, success: bool, now_ms: u64, metrics: EgressMetrics) {
        let Pipeline::Collector(c) = self else { return };
        if let Some(batch_id) = c.in_flight.remove(&token) {
            c.delivery.on_result(batch_id, success, now_ms);
        }
        c.report(metrics);
    }
}

impl Collector {
    fn drain_queue(&mut self, metrics: EgressMetrics) {
        let Some(id) = self.queue_id else { return };
        while let Ok(Some(bytes)) = abi::dequeue_shared_queue(id) {
            match String::from_utf8(bytes) {
                Ok(line) => {
                    self.delivery.push(line);
                }
                Err(_) => metrics.dropped.inc(),
            }
        }
    }

    fn report(&mut self, metrics: EgressMetrics) {
        let now = self.delivery.stats();
        metrics
            .sent
            .add(now.sent.saturating_sub(self.reported.sent));
        metrics
            .dropped
            .add(now.dropped.saturating_sub(self.reported.dropped));
        metrics.failed_batches.add(
            now.failed_batches
                .saturating_sub(self.reported.failed_batches),
        );
        metrics.buffered.set(now.buffered as u64);
        self.reported = now;
    }
}
