//! Where audit records go: Envoy's log, or an HTTP collector.
//!
//! Collector path: streams enqueue each record on a shared queue (process-wide, keyed by
//! `vm_id`), so a record survives its stream; root contexts drain the queue on
//! `on_queue_ready` and on their tick into a [`Delivery`] (bounded buffer, batches, retry with
//! backoff), and POST each batch as JSON Lines with an HTTP callout.
//!
//! Reconfiguration: a root context configured again hands the records it holds straight to
//! its new pipeline; a root context Envoy retires (`on_done`: its plugin configuration was
//! replaced) puts them back on the shared queue, where its successor's tick picks them up.
//! The queue lives in Envoy, not in the VM, so the records outlive the retired context.

use std::collections::HashMap;
use std::time::Duration;

use portcullis_core::audit::{BatchOutcome, Delivery, DeliveryStats};
use portcullis_core::wire::{AuditSink, FailureMode, HttpCollector};
use portcullis_glue::{abi, host};
use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

use crate::metrics::EgressMetrics;

/// The shared queue's name.
pub const QUEUE: &str = "portcullis.audit";

/// How often a `log` sink's root looks at the shared queue for records handed over by a
/// retired collector configuration.
const LOG_SINK_TICK: Duration = Duration::from_secs(1);

/// The audit sink of one root context.
#[derive(Debug)]
pub enum Pipeline {
    /// One JSON line per record in Envoy's log.
    Log {
        /// The shared queue, read for handed-over records only.
        queue_id: Option<u32>,
    },
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
    /// This pipeline's entry in the held-records ledger.
    ledger_id: String,
}

impl Pipeline {
    /// Builds the sink of a new configuration, taking over what `previous` (the pipeline of
    /// the configuration it replaces on this root context) still holds.
    pub fn new(
        sink: &AuditSink,
        failure_mode: FailureMode,
        previous: Option<&mut Pipeline>,
        metrics: EgressMetrics,
    ) -> Self {
        let queue_id = abi::register_shared_queue(QUEUE).ok();
        let mut pipeline = match sink {
            AuditSink::Log => {
                host::set_tick_period(LOG_SINK_TICK);
                Pipeline::Log { queue_id }
            }
            AuditSink::Http(settings) => {
                host::set_tick_period(Duration::from_millis(u64::from(
                    settings.flush_interval_ms.clamp(1, 1000),
                )));
                Pipeline::Collector(Box::new(Collector {
                    settings: settings.clone(),
                    queue_id,
                    delivery: Delivery::new(settings, failure_mode),
                    in_flight: HashMap::new(),
                    reported: DeliveryStats::default(),
                    ledger_id: format!("{:016x}", crate::record::nonce()),
                }))
            }
        };
        if let Some(previous) = previous {
            let held = previous.take_held(metrics);
            metrics.handed_over.add(held.len() as u64);
            pipeline.accept(held, metrics);
        }
        pipeline
    }

    /// Whether `failureMode: closed` currently refuses new egress.
    pub fn refuse_new_egress(&self) -> bool {
        match self {
            Pipeline::Log { .. } => false,
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
            _ if refused_unaudited => log_record(LogLevel::Warn, &line, metrics),
            Pipeline::Log { .. } => log_record(LogLevel::Info, &line, metrics),
            Pipeline::Collector(c) => {
                let queued = c
                    .queue_id
                    .is_some_and(|id| abi::enqueue_shared_queue(id, line.as_bytes()).is_ok());
                if !queued {
                    metrics.drop_unqueued(1);
                }
            }
        }
    }

    /// Drains the shared queue and sends what is due. Called on tick and on queue ready.
    pub fn pump(&mut self, now_ms: u64, metrics: EgressMetrics) {
        let Pipeline::Collector(c) = self else {
            let lines = self.dequeue_all(metrics);
            self.accept(lines, metrics);
            return;
        };
        c.drain_queue(metrics);
        while let Some(batch) = c.delivery.poll(now_ms) {
            if !c.dispatch(&batch.body, batch.id, now_ms) {
                break;
            }
        }
        c.report(metrics);
    }

    /// The collector answered with `status`, or the call failed (`None`).
    pub fn on_response(
        &mut self,
        token: u32,
        status: Option<u16>,
        now_ms: u64,
        metrics: EgressMetrics,
    ) {
        let Pipeline::Collector(c) = self else { return };
        if let Some(batch_id) = c.in_flight.remove(&token) {
            let outcome = BatchOutcome::from_status(status);
            if outcome == BatchOutcome::Rejected {
                host::log(
                    LogLevel::Warn,
                    &format!(
                        "audit collector {} refused a batch with status {}: its records are \
                         dropped (counted in dropped_rejected)",
                        c.settings.cluster,
                        status.unwrap_or_default()
                    ),
                );
            }
            c.delivery.on_result(batch_id, outcome, now_ms);
        }
        c.report(metrics);
    }

    /// Envoy retires this root context (its plugin configuration was replaced, or Envoy is
    /// stopping): every record it holds goes back on the shared queue for the configuration
    /// that follows. One the queue refuses is counted as a reconfigure drop.
    pub fn retire(&mut self, metrics: EgressMetrics) {
        let held = self.take_held(metrics);
        let queue_id = self.queue_id();
        let mut refused = 0u64;
        for line in &held {
            let queued =
                queue_id.is_some_and(|id| abi::enqueue_shared_queue(id, line.as_bytes()).is_ok());
            if queued {
                metrics.handed_over.inc();
            } else {
                refused += 1;
            }
        }
        if refused > 0 {
            metrics.dropped.add(refused);
            metrics.dropped_reconfigure.add(refused);
        }
    }

    /// Everything this pipeline holds, oldest first, leaving it empty: the collector's buffer
    /// (in-flight batch included; its answer is then ignored) and what waits in the queue.
    fn take_held(&mut self, metrics: EgressMetrics) -> Vec<String> {
        let queued = self.dequeue_all(metrics);
        let Pipeline::Collector(c) = self else {
            return queued;
        };
        c.in_flight.clear();
        let mut held = c.delivery.hand_over();
        held.extend(queued);
        c.report(metrics);
        crate::ledger::remove(&c.ledger_id);
        held
    }

    /// Takes records handed over from another configuration.
    fn accept(&mut self, lines: Vec<String>, metrics: EgressMetrics) {
        match self {
            Pipeline::Log { .. } => {
                for line in lines {
                    log_record(LogLevel::Info, &line, metrics);
                }
            }
            Pipeline::Collector(c) => {
                c.delivery.take_over(lines);
                c.report(metrics);
            }
        }
    }

    /// Every record waiting in the shared queue.
    fn dequeue_all(&self, metrics: EgressMetrics) -> Vec<String> {
        let Some(id) = self.queue_id() else {
            return Vec::new();
        };
        std::iter::from_fn(|| next_line(id, metrics)).collect()
    }

    fn queue_id(&self) -> Option<u32> {
        match self {
            Pipeline::Log { queue_id } => *queue_id,
            Pipeline::Collector(c) => c.queue_id,
        }
    }
}

/// The next record in shared queue `id`; `None` when it is empty.
fn next_line(id: u32, metrics: EgressMetrics) -> Option<String> {
    while let Ok(Some(bytes)) = abi::dequeue_shared_queue(id) {
        match String::from_utf8(bytes) {
            Ok(line) => return Some(line),
            // Only this filter enqueues, and only strings: unreachable but counted.
            Err(_) => metrics.drop_unqueued(1),
        }
    }
    None
}

fn log_record(level: LogLevel, line: &str, metrics: EgressMetrics) {
    host::log(level, line);
    metrics.logged.inc();
}

impl Collector {
    /// Moves records from the shared queue into the buffer. Under `failureMode: closed` it
    /// stops while the buffer is full: the rest wait in the queue rather than push out a
    /// record not yet delivered (each VM has its own buffer, and a worker whose buffer had
    /// room let the request through, so its record may reach a full one here).
    fn drain_queue(&mut self, metrics: EgressMetrics) {
        let Some(id) = self.queue_id else { return };
        while !self.delivery.holds_back() {
            let Some(line) = next_line(id, metrics) else {
                break;
            };
            self.delivery.push(line);
        }
    }

    /// Refreshes this pipeline's ledger entry with what it now holds (what it just reported
    /// to the `buffered` gauge; its ticks are the heartbeat) and counts the records of dead
    /// VMs' entries as dropped: their VM trapped, and with it their buffer. The gauge still
    /// holds what those VMs reported; it is taken back here.
    fn account_dead_vms(&self, held: usize, metrics: EgressMetrics) {
        let lost = crate::ledger::refresh(&self.ledger_id, held as u64, host::now_millis());
        if lost == 0 {
            return;
        }
        metrics.dropped.add(lost);
        metrics.dropped_trap.add(lost);
        metrics
            .buffered
            .add(-i64::try_from(lost).unwrap_or(i64::MAX));
        host::log(
            LogLevel::Warn,
            &format!(
                "{lost} audit records were lost with a VM that stopped (a trap); counted in \
                 dropped_trap"
            ),
        );
    }

    /// POSTs one batch; false when Envoy refused the call (the batch then counts as failed).
    fn dispatch(&mut self, body: &str, batch_id: u64, now_ms: u64) -> bool {
        let headers = vec![
            (":method", "POST"),
            (":path", self.settings.path.as_str()),
            (":authority", self.settings.authority.as_str()),
            ("content-type", "application/x-ndjson"),
        ];
        let timeout = Duration::from_millis(u64::from(self.settings.timeout_ms));
        // The SDK's call, not `abi`'s: it registers the token with the SDK's dispatcher,
        // which routes the answer to `on_http_call_response`; it returns every status
        // Envoy's `proxy_http_call` has (OK, BAD_ARGUMENT, INTERNAL_FAILURE).
        match hostcalls::dispatch_http_call(
            &self.settings.cluster,
            headers,
            Some(body.as_bytes()),
            vec![],
            timeout,
        ) {
            Ok(token) => {
                // One batch in flight at a time: the next poll returns None until answered.
                self.in_flight.insert(token, batch_id);
                true
            }
            Err(_) => {
                self.delivery
                    .on_result(batch_id, BatchOutcome::Failed, now_ms);
                false
            }
        }
    }

    fn report(&mut self, metrics: EgressMetrics) {
        let now = self.delivery.stats();
        let was = self.reported;
        let delta = |now: u64, was: u64| now.saturating_sub(was);
        metrics.sent.add(delta(now.sent, was.sent));
        metrics
            .dropped
            .add(delta(now.dropped.total(), was.dropped.total()));
        metrics
            .dropped_buffer_full
            .add(delta(now.dropped.buffer_full, was.dropped.buffer_full));
        metrics
            .dropped_rejected
            .add(delta(now.dropped.rejected, was.dropped.rejected));
        metrics
            .dropped_reconfigure
            .add(delta(now.dropped.reconfigure, was.dropped.reconfigure));
        metrics
            .failed_batches
            .add(delta(now.failed_batches, was.failed_batches));
        metrics
            .rejected_batches
            .add(delta(now.rejected_batches, was.rejected_batches));
        metrics
            .buffered
            .add(now.buffered as i64 - was.buffered as i64);
        self.reported = now;
        self.account_dead_vms(now.buffered, metrics);
    }
}
