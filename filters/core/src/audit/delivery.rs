//! Delivery of audit records to an HTTP collector: a pure state machine driven by the filter's
//! `on_log` (push), `on_tick` (poll) and HTTP callout response (on_result). Times are
//! milliseconds from the caller's clock; the machine never reads one.
//!
//! Life of a record: pushed into a bounded buffer → taken into a batch by `poll` (still owned
//! here) → removed on success, or put back at the front on failure and retried after a
//! backoff. So a failed batch is retried, never lost, while the buffer has room. Every record
//! ends sent, still held, or in one of the [`Drops`] counters with its reason: the oldest
//! records when the buffer overflows, a batch the collector refuses for good (a 4xx other
//! than 408 and 429), and records a reconfiguration could not carry over.
//!
//! Delivery is at least once: a batch whose answer is lost (a timeout after the collector
//! stored it) is sent again, so a collector deduplicates by each record's `id`.

use std::collections::VecDeque;

use crate::wire::{FailureMode, HttpCollector};

/// Outcome of [`Delivery::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushResult {
    /// Buffered; nothing lost.
    Queued,
    /// Buffered, and the oldest waiting records were dropped to make room.
    DroppedOldest,
    /// No room even with every waiting record dropped (the in-flight batch cannot be
    /// recalled, or the record alone exceeds `maxBufferedBytes`): the new record was dropped.
    DroppedNew,
}

impl PushResult {
    /// True when a record was lost.
    pub fn dropped(self) -> bool {
        self != PushResult::Queued
    }
}

/// A batch to POST to the collector: JSON Lines, one record per line, each line ending in
/// `\n`. Report its outcome with [`Delivery::on_result`] and the same `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Identifies the batch in [`Delivery::on_result`]; increases with each batch.
    pub id: u64,
    /// The request body.
    pub body: String,
    /// Number of records in it.
    pub records: usize,
}

/// What the collector's answer to a batch means, from its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// 2xx: the records are stored.
    Delivered,
    /// No answer (timeout, reset, dispatch refused), 408, 429 or 5xx: worth sending again.
    Failed,
    /// Any other status (a 4xx such as 400 or 413, a redirect): the collector refuses these
    /// records and would refuse them again, so they are dropped and counted rather than
    /// retried forever in front of every later record.
    Rejected,
}

impl BatchOutcome {
    /// The outcome of an answer with `status`, or of no answer (`None`).
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => BatchOutcome::Delivered,
            None | Some(408 | 429 | 500..) => BatchOutcome::Failed,
            Some(_) => BatchOutcome::Rejected,
        }
    }
}

/// Why records were dropped, and how many for each reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Pushed out of a full buffer (`maxBuffered` records or `maxBufferedBytes` bytes).
    pub buffer_full: u64,
    /// In a batch the collector refused ([`BatchOutcome::Rejected`]).
    pub rejected: u64,
    /// Handed to a new configuration's buffer that had no room for them.
    pub reconfigure: u64,
}

impl Drops {
    /// All dropped records.
    pub fn total(&self) -> u64 {
        self.buffer_full + self.rejected + self.reconfigure
    }
}

/// Why a record is dropped: the [`Drops`] counter it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// [`Drops::buffer_full`].
    BufferFull,
    /// [`Drops::reconfigure`].
    Reconfigure,
}

/// Counters for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Records acknowledged by the collector.
    pub sent: u64,
    /// Records dropped, by reason.
    pub dropped: Drops,
    /// Batches that failed and were kept for a retry (no answer, 408, 429, 5xx).
    pub failed_batches: u64,
    /// Batches the collector refused for good.
    pub rejected_batches: u64,
    /// Records held now, in flight included.
    pub buffered: usize,
}

/// The HTTP collector sink's delivery state.
#[derive(Debug)]
pub struct Delivery {
    settings: Settings,
    failure_mode: FailureMode,
    /// Records waiting for a batch, oldest first.
    waiting: VecDeque<String>,
    /// Bytes of the records held, in flight included.
    held_bytes: usize,
    /// The batch sent and not yet answered.
    in_flight: Option<InFlight>,
    next_id: u64,
    /// When the last batch was sent; `None` before the first, so the first record goes out at
    /// once.
    last_send_ms: Option<u64>,
    /// No batch before this time (backoff after a failure).
    retry_at_ms: Option<u64>,
    /// The backoff applied after the last failure; 0 when the collector is healthy.
    backoff_ms: u64,
    stats: DeliveryStats,
}

/// The collector settings, clamped so that even an unvalidated config cannot stall or panic.
#[derive(Debug)]
struct Settings {
    batch_size: usize,
    max_buffered: usize,
    max_buffered_bytes: usize,
    flush_interval_ms: u64,
    timeout_ms: u64,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    lines: Vec<String>,
    /// Bytes of `lines`.
    bytes: usize,
    sent_at_ms: u64,
}

impl Delivery {
    /// A machine for `collector`, honouring `failure_mode` in [`Delivery::refuse_new_egress`].
    pub fn new(collector: &HttpCollector, failure_mode: FailureMode) -> Self {
        let max_buffered = (collector.max_buffered as usize).max(1);
        let initial_backoff_ms = u64::from(collector.initial_backoff_ms).max(1);
        Delivery {
            settings: Settings {
                batch_size: (collector.batch_size as usize).clamp(1, max_buffered),
                max_buffered,
                max_buffered_bytes: (collector.max_buffered_bytes as usize).max(1),
                flush_interval_ms: u64::from(collector.flush_interval_ms),
                timeout_ms: u64::from(collector.timeout_ms).max(1),
                initial_backoff_ms,
                max_backoff_ms: u64::from(collector.max_backoff_ms).max(initial_backoff_ms),
            },
            failure_mode,
            waiting: VecDeque::new(),
            held_bytes: 0,
            in_flight: None,
            next_id: 1,
            last_send_ms: None,
            retry_at_ms: None,
            backoff_ms: 0,
            stats: DeliveryStats::default(),
        }
    }

    /// Buffers one record line (a [`super::SinkLine`], without newline). When `maxBuffered`
    /// records or `maxBufferedBytes` bytes would be held (in flight included), the oldest
    /// waiting records are dropped and counted until the new one fits; when it cannot fit
    /// even then, it is dropped and counted instead.
    pub fn push(&mut self, line: String) -> PushResult {
        self.push_counted(line, DropReason::BufferFull)
    }

    /// [`Delivery::push`], counting what it drops under `reason`.
    fn push_counted(&mut self, line: String, reason: DropReason) -> PushResult {
        let (in_flight_records, in_flight_bytes) = self
            .in_flight
            .as_ref()
            .map_or((0, 0), |f| (f.lines.len(), f.bytes));
        if in_flight_records >= self.settings.max_buffered
            || in_flight_bytes + line.len() > self.settings.max_buffered_bytes
        {
            self.count_drop(reason, 1);
            return PushResult::DroppedNew;
        }
        // With the in-flight batch leaving room, dropping waiting records makes room.
        let mut result = PushResult::Queued;
        while self.buffered() >= self.settings.max_buffered
            || self.held_bytes + line.len() > self.settings.max_buffered_bytes
        {
            let Some(oldest) = self.waiting.pop_front() else {
                break;
            };
            self.held_bytes -= oldest.len();
            self.count_drop(reason, 1);
            result = PushResult::DroppedOldest;
        }
        self.held_bytes += line.len();
        self.waiting.push_back(line);
        result
    }

    /// The next batch to send, if one is due: no batch in flight, not backing off, records
    /// waiting, and either `batchSize` records waiting, `flushIntervalMs` elapsed since the
    /// last send, or a retry due after a failure. A batch in flight for more than twice
    /// `timeoutMs` (its callout answer lost) counts as failed first.
    pub fn poll(&mut self, now_ms: u64) -> Option<Batch> {
        if let Some(in_flight) = &self.in_flight {
            let deadline = in_flight
                .sent_at_ms
                .saturating_add(self.settings.timeout_ms * 2);
            if now_ms < deadline {
                return None;
            }
            let id = in_flight.id;
            self.on_result(id, BatchOutcome::Failed, now_ms);
            // The expiry starts a backoff; nothing more to do on this tick.
            return None;
        }
        if self.waiting.is_empty() {
            return None;
        }
        let retrying = match self.retry_at_ms {
            Some(at) if now_ms < at => return None,
            Some(_) => true,
            None => false,
        };
        let interval_elapsed = self
            .last_send_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= self.settings.flush_interval_ms);
        if !(retrying || interval_elapsed || self.waiting.len() >= self.settings.batch_size) {
            return None;
        }
        let count = self.waiting.len().min(self.settings.batch_size);
        let lines: Vec<String> = self.waiting.drain(..count).collect();
        let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in &lines {
            body.push_str(line);
            body.push('\n');
        }
        let id = self.next_id;
        self.next_id += 1;
        self.last_send_ms = Some(now_ms);
        self.retry_at_ms = None;
        self.in_flight = Some(InFlight {
            id,
            bytes: body.len() - lines.len(),
            lines,
            sent_at_ms: now_ms,
        });
        Some(Batch {
            id,
            body,
            records: count,
        })
    }

    /// Reports the outcome of batch `batch_id`. Delivered forgets the records and resets the
    /// backoff; rejected drops them (counted in [`Drops::rejected`]) and, the collector being
    /// up, resets the backoff too; failed puts them back in front of the waiting ones and
    /// backs off `initialBackoffMs`, doubling per consecutive failure up to `maxBackoffMs`. An
    /// unknown or stale id (a batch already expired by [`Delivery::poll`], or handed over) is
    /// ignored: returns false.
    pub fn on_result(&mut self, batch_id: u64, outcome: BatchOutcome, now_ms: u64) -> bool {
        self.on_result_with_jitter(batch_id, outcome, now_ms, 0)
    }

    /// [`Delivery::on_result`] with jitter: `jitter` (any value, e.g. from the caller's
    /// entropy) shortens a failure's backoff by up to half, deterministically
    /// (`backoff - backoff/2 * jitter/u32::MAX`), so many gateways do not retry in step.
    pub fn on_result_with_jitter(
        &mut self,
        batch_id: u64,
        outcome: BatchOutcome,
        now_ms: u64,
        jitter: u32,
    ) -> bool {
        let Some(in_flight) = self.in_flight.take_if(|f| f.id == batch_id) else {
            return false;
        };
        let records = in_flight.lines.len() as u64;
        match outcome {
            BatchOutcome::Delivered => self.stats.sent += records,
            BatchOutcome::Rejected => {
                self.stats.rejected_batches += 1;
                self.stats.dropped.rejected += records;
            }
            BatchOutcome::Failed => {}
        }
        if outcome != BatchOutcome::Failed {
            self.held_bytes -= in_flight.bytes;
            self.backoff_ms = 0;
            self.retry_at_ms = None;
            return true;
        }
        self.stats.failed_batches += 1;
        for line in in_flight.lines.into_iter().rev() {
            self.waiting.push_front(line);
        }
        self.backoff_ms = if self.backoff_ms == 0 {
            self.settings.initial_backoff_ms
        } else {
            self.backoff_ms
                .saturating_mul(2)
                .min(self.settings.max_backoff_ms)
        };
        let cut = (self.backoff_ms / 2) * u64::from(jitter) / u64::from(u32::MAX);
        self.retry_at_ms = Some(now_ms.saturating_add(self.backoff_ms - cut));
        true
    }

    /// Takes every record held, the in-flight batch's first (they are the oldest), leaving the
    /// machine empty: a new configuration's pipeline takes them over with
    /// [`Delivery::take_over`]. The in-flight batch's answer, if it comes, is then ignored;
    /// should the collector have stored it, the records arrive twice (at least once).
    pub fn hand_over(&mut self) -> Vec<String> {
        let mut lines = self.in_flight.take().map(|f| f.lines).unwrap_or_default();
        lines.extend(self.waiting.drain(..));
        self.held_bytes = 0;
        lines
    }

    /// Buffers records handed over by a previous configuration ([`Delivery::hand_over`]),
    /// oldest first; what does not fit is counted in [`Drops::reconfigure`].
    pub fn take_over(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.push_counted(line, DropReason::Reconfigure);
        }
    }

    fn count_drop(&mut self, reason: DropReason, count: u64) {
        let drops = &mut self.stats.dropped;
        match reason {
            DropReason::BufferFull => drops.buffer_full += count,
            DropReason::Reconfigure => drops.reconfigure += count,
        }
    }

    /// False from a failed batch until the next successful one.
    pub fn healthy(&self) -> bool {
        self.backoff_ms == 0
    }

    /// With `failureMode: closed`: true while the collector is failing (not
    /// [`Delivery::healthy`]) AND the buffer is full (`maxBuffered` records held), i.e. when
    /// one more record would displace an undelivered one. The filter then answers new egress
    /// with 503 ([`crate::egress::DenyReason::AuditUnavailable`]) and counts those refusals
    /// in a metric rather than pushing their records, which would displace undelivered ones. A full buffer alone
    /// (a burst while the collector is healthy) does not refuse. Always false with `open`.
    pub fn refuse_new_egress(&self) -> bool {
        self.failure_mode == FailureMode::Closed && !self.healthy() && self.full()
    }

    /// Whether one more record would push out a held one (`maxBuffered` records or
    /// `maxBufferedBytes` bytes held).
    pub fn full(&self) -> bool {
        self.buffered() >= self.settings.max_buffered
            || self.held_bytes >= self.settings.max_buffered_bytes
    }

    /// Whether the caller should hold a new record back rather than push it: with
    /// `failureMode: closed` no record may displace another, so while the buffer is full the
    /// record waits where it is (the filter's shared queue) until a batch is delivered.
    pub fn holds_back(&self) -> bool {
        self.failure_mode == FailureMode::Closed && self.full()
    }

    /// Bytes of the records held now, in flight included.
    pub fn buffered_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Records held now, in flight included.
    pub fn buffered(&self) -> usize {
        self.waiting.len() + self.in_flight.as_ref().map_or(0, |f| f.lines.len())
    }

    /// Records acknowledged by the collector.
    pub fn sent(&self) -> u64 {
        self.stats.sent
    }

    /// Records dropped, for every reason.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.total()
    }

    /// Failed batches.
    pub fn failed_batches(&self) -> u64 {
        self.stats.failed_batches
    }

    /// True while a batch awaits its outcome.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The current backoff delay, 0 when healthy.
    pub fn backoff_ms(&self) -> u64 {
        self.backoff_ms
    }

    /// All counters at once.
    pub fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            buffered: self.buffered(),
            ..self.stats
        }
    }
}
