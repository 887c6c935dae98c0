//! The HTTP collector delivery state machine: batching, retry, backoff, bounds, failure mode.

// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failing test should stop at the failing line"
)]

use portcullis_core::audit::{Batch, BatchOutcome, Delivery, DeliveryStats, Drops, PushResult};
use portcullis_core::wire::{FailureMode, HttpCollector};
use proptest::prelude::*;
use serde_json::json;

fn collector(overrides: serde_json::Value) -> HttpCollector {
    let mut c = json!({
        "cluster": "audit", "authority": "audit.local",
        "batchSize": 3, "flushIntervalMs": 1000, "maxBuffered": 10,
        "timeoutMs": 500, "initialBackoffMs": 100, "maxBackoffMs": 1000,
    });
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    serde_json::from_value(c).unwrap()
}

fn delivery(overrides: serde_json::Value) -> Delivery {
    Delivery::new(&collector(overrides), FailureMode::Open)
}

fn push_n(d: &mut Delivery, from: usize, n: usize) {
    for i in from..from + n {
        assert_eq!(d.push(format!("r{i}")), PushResult::Queued);
    }
}

fn lines(batch: &Batch) -> Vec<&str> {
    assert!(batch.body.ends_with('\n'), "JSON Lines end with a newline");
    batch.body.lines().collect()
}

/// The first records go out at once; then a full batch goes out without waiting.
#[test]
fn batches_by_size() {
    let mut d = delivery(json!({}));
    push_n(&mut d, 0, 1);
    let first = d.poll(0).unwrap();
    assert_eq!(lines(&first), ["r0"]);
    assert!(d.on_result(first.id, BatchOutcome::Delivered, 5));
    push_n(&mut d, 1, 2);
    assert_eq!(d.poll(10), None, "2 < batchSize and interval not elapsed");
    push_n(&mut d, 3, 2);
    let batch = d.poll(20).unwrap();
    assert_eq!((lines(&batch), batch.records), (vec!["r1", "r2", "r3"], 3));
    assert_eq!(batch.body, "r1\nr2\nr3\n");
    assert!(batch.id > first.id);
    d.on_result(batch.id, BatchOutcome::Delivered, 30);
    assert_eq!((d.sent(), d.buffered()), (4, 1));
}

/// A partial batch goes out once the flush interval has elapsed since the last send.
#[test]
fn batches_by_interval() {
    let mut d = delivery(json!({}));
    push_n(&mut d, 0, 1);
    let b = d.poll(0).unwrap();
    d.on_result(b.id, BatchOutcome::Delivered, 1);
    push_n(&mut d, 1, 1);
    assert_eq!(d.poll(999), None);
    let b = d.poll(1000).unwrap();
    assert_eq!(lines(&b), ["r1"]);
    d.on_result(b.id, BatchOutcome::Delivered, 1001);
    assert_eq!(d.poll(5000), None, "nothing to send");
}

/// While a batch is in flight, no other batch is produced, however many records wait.
#[test]
fn one_batch_in_flight() {
    let mut d = delivery(json!({}));
    push_n(&mut d, 0, 9);
    let b = d.poll(0).unwrap();
    assert!(d.in_flight());
    assert_eq!(d.poll(1), None);
    assert_eq!(d.poll(999), None);
    assert!(
        !d.on_result(b.id + 1, BatchOutcome::Delivered, 2),
        "unknown id is ignored"
    );
    assert!(d.in_flight());
    assert!(d.on_result(b.id, BatchOutcome::Delivered, 3));
    assert!(
        !d.on_result(b.id, BatchOutcome::Delivered, 3),
        "a second answer is ignored"
    );
    assert_eq!(lines(&d.poll(4).unwrap()), ["r3", "r4", "r5"]);
}

/// A failed batch is retried after the backoff, in order, and nothing is lost.
#[test]
fn failure_then_recovery() {
    let mut d = delivery(json!({}));
    push_n(&mut d, 0, 3);
    let b1 = d.poll(0).unwrap();
    assert!(d.on_result(b1.id, BatchOutcome::Failed, 10));
    assert!(!d.healthy());
    assert_eq!(
        (d.failed_batches(), d.buffered(), d.backoff_ms()),
        (1, 3, 100)
    );
    push_n(&mut d, 3, 4);
    assert_eq!(d.poll(109), None, "backing off");
    let b2 = d.poll(110).unwrap();
    assert_eq!(
        lines(&b2),
        ["r0", "r1", "r2"],
        "the failed records first, in order"
    );
    d.on_result(b2.id, BatchOutcome::Failed, 120);
    assert_eq!(d.backoff_ms(), 200);
    assert_eq!(d.poll(319), None);
    let b3 = d.poll(320).unwrap();
    assert_eq!(lines(&b3), ["r0", "r1", "r2"]);
    d.on_result(b3.id, BatchOutcome::Delivered, 330);
    assert!(d.healthy());
    assert_eq!(d.backoff_ms(), 0);
    // Recovery: the rest drains without waiting for the interval.
    let mut delivered = lines(&b3).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut now = 331;
    while let Some(b) = d.poll(now) {
        delivered.extend(lines(&b).iter().map(|s| s.to_string()));
        d.on_result(b.id, BatchOutcome::Delivered, now);
        now += 1000;
    }
    assert_eq!(delivered, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);
    assert_eq!(
        d.stats(),
        DeliveryStats {
            sent: 7,
            dropped: Drops::default(),
            failed_batches: 2,
            rejected_batches: 0,
            buffered: 0
        }
    );
}

/// The backoff doubles per consecutive failure up to the cap, and a success resets it.
#[test]
fn backoff_doubles_and_caps() {
    let mut d = delivery(json!({ "initialBackoffMs": 100, "maxBackoffMs": 700 }));
    push_n(&mut d, 0, 1);
    let mut now = 0;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let b = d.poll(now).unwrap();
        d.on_result(b.id, BatchOutcome::Failed, now);
        seen.push(d.backoff_ms());
        assert_eq!(d.poll(now + d.backoff_ms() - 1), None);
        now += d.backoff_ms();
    }
    assert_eq!(seen, [100, 200, 400, 700, 700, 700]);
    let b = d.poll(now).unwrap();
    d.on_result(b.id, BatchOutcome::Delivered, now);
    push_n(&mut d, 1, 1);
    let b = d.poll(now + 1000).unwrap();
    d.on_result(b.id, BatchOutcome::Failed, now + 1000);
    assert_eq!(d.backoff_ms(), 100, "reset after a success");
}

/// Jitter shortens the wait by up to half, deterministically.
#[test]
fn jitter_is_deterministic() {
    let mut d = delivery(json!({ "initialBackoffMs": 100 }));
    push_n(&mut d, 0, 1);
    let b = d.poll(0).unwrap();
    d.on_result_with_jitter(b.id, BatchOutcome::Failed, 0, u32::MAX);
    assert_eq!(d.poll(49), None);
    let b = d.poll(50).unwrap();
    d.on_result_with_jitter(b.id, BatchOutcome::Failed, 50, u32::MAX / 2);
    // backoff 200, cut 100 * 0.5 = 49 (integer arithmetic), retry at 50 + 151.
    assert_eq!(d.poll(200), None);
    assert!(d.poll(201).is_some());
}

/// A full buffer drops the oldest waiting record and counts it; the in-flight batch is kept.
#[test]
fn bounded_buffer_drops_oldest() {
    let mut d = delivery(json!({ "maxBuffered": 5, "batchSize": 2 }));
    push_n(&mut d, 0, 5);
    let b = d.poll(0).unwrap(); // r0 r1 in flight, r2 r3 r4 waiting
    assert_eq!(d.push("r5".into()), PushResult::DroppedOldest); // drops r2
    assert_eq!(d.push("r6".into()), PushResult::DroppedOldest); // drops r3
    assert_eq!((d.buffered(), d.dropped()), (5, 2));
    d.on_result(b.id, BatchOutcome::Failed, 1);
    let b = d.poll(101).unwrap();
    assert_eq!(
        lines(&b),
        ["r0", "r1"],
        "the failed batch is never the one dropped"
    );
    d.on_result(b.id, BatchOutcome::Delivered, 101);
    let mut rest = Vec::new();
    let mut now = 200;
    while let Some(b) = d.poll(now) {
        rest.extend(lines(&b).iter().map(|s| s.to_string()));
        d.on_result(b.id, BatchOutcome::Delivered, now);
        now += 1000;
    }
    assert_eq!(rest, ["r4", "r5", "r6"]);
    assert_eq!((d.sent(), d.dropped(), d.buffered()), (5, 2, 0));
}

/// The buffer is bounded by bytes too: large records push the oldest out until the new one
/// fits; a record larger than the whole bound is dropped itself. Every record is sent or
/// counted as dropped.
#[test]
fn buffer_is_bounded_by_bytes() {
    let mut d = delivery(json!({ "maxBuffered": 100, "batchSize": 100, "maxBufferedBytes": 10 }));
    assert_eq!(d.push("aaaa".into()), PushResult::Queued);
    assert_eq!(d.push("bbbb".into()), PushResult::Queued);
    assert_eq!(d.buffered_bytes(), 8);
    assert_eq!(
        d.push("cccccc".into()),
        PushResult::DroppedOldest,
        "drops aaaa"
    );
    assert_eq!((d.buffered(), d.buffered_bytes()), (2, 10));
    assert_eq!(
        d.push("x".repeat(11)),
        PushResult::DroppedNew,
        "larger than the bound"
    );
    let b = d.poll(0).unwrap();
    assert_eq!(b.body, "bbbb\ncccccc\n");
    // In flight, 10 bytes are held: a new record cannot displace them.
    assert_eq!(d.push("d".into()), PushResult::DroppedNew);
    d.on_result(b.id, BatchOutcome::Delivered, 1);
    assert_eq!(d.buffered_bytes(), 0);
    assert_eq!(d.push("d".into()), PushResult::Queued);
    assert_eq!((d.sent(), d.dropped(), d.buffered()), (2, 3, 1));
}

/// When the whole buffer is in flight, the new record is the one dropped.
#[test]
fn buffer_all_in_flight_drops_new() {
    let mut d = delivery(json!({ "maxBuffered": 2, "batchSize": 2 }));
    push_n(&mut d, 0, 2);
    let b = d.poll(0).unwrap();
    assert_eq!(d.push("r2".into()), PushResult::DroppedNew);
    assert!(PushResult::DroppedNew.dropped() && !PushResult::Queued.dropped());
    d.on_result(b.id, BatchOutcome::Delivered, 1);
    assert_eq!((d.sent(), d.dropped(), d.buffered()), (2, 1, 0));
}

/// A batch whose answer never comes expires after twice the timeout and is retried.
#[test]
fn lost_callout_expires() {
    let mut d = delivery(json!({ "timeoutMs": 500 }));
    push_n(&mut d, 0, 1);
    let b = d.poll(0).unwrap();
    assert_eq!(d.poll(999), None);
    assert_eq!(d.poll(1000), None, "expired: now backing off");
    assert_eq!(d.failed_batches(), 1);
    assert!(
        !d.on_result(b.id, BatchOutcome::Delivered, 1001),
        "late answer ignored"
    );
    let retry = d.poll(1100).unwrap();
    assert_eq!(lines(&retry), ["r0"]);
}

/// A status says whether a batch is worth sending again: 2xx delivered; no answer, 408, 429
/// and 5xx retried; any other status refused for good.
#[test]
fn statuses_classify_batches() {
    use BatchOutcome::*;
    let cases = [
        (Some(200), Delivered),
        (Some(204), Delivered),
        (None, Failed),
        (Some(408), Failed),
        (Some(429), Failed),
        (Some(500), Failed),
        (Some(503), Failed),
        (Some(400), Rejected),
        (Some(401), Rejected),
        (Some(413), Rejected),
        (Some(301), Rejected),
        (Some(100), Rejected),
    ];
    for (status, outcome) in cases {
        assert_eq!(BatchOutcome::from_status(status), outcome, "{status:?}");
    }
}

/// A batch the collector refuses is dropped and counted, not retried, and the records behind
/// it go out without a backoff.
#[test]
fn a_rejected_batch_is_counted_and_not_retried() {
    let mut d = delivery(json!({ "batchSize": 2 }));
    push_n(&mut d, 0, 3);
    let b = d.poll(0).unwrap();
    assert!(d.on_result(b.id, BatchOutcome::Rejected, 1));
    assert!(d.healthy(), "the collector answered");
    let next = d.poll(2000).unwrap();
    assert_eq!(lines(&next), ["r2"]);
    d.on_result(next.id, BatchOutcome::Delivered, 2001);
    let stats = d.stats();
    assert_eq!(
        (stats.sent, stats.dropped.rejected, stats.rejected_batches),
        (1, 2, 1)
    );
    assert_eq!((d.dropped(), d.buffered(), d.buffered_bytes()), (2, 0, 0));
}

/// A reconfiguration hands every held record, the in-flight batch's first, to the new
/// pipeline; what the new one has no room for is counted as a reconfigure drop, and the old
/// batch's late answer changes nothing.
#[test]
fn records_are_handed_over_to_a_new_configuration() {
    let mut old = delivery(json!({ "batchSize": 2 }));
    push_n(&mut old, 0, 5);
    let in_flight = old.poll(0).unwrap();
    let handed = old.hand_over();
    assert_eq!(handed, ["r0", "r1", "r2", "r3", "r4"]);
    assert_eq!((old.buffered(), old.buffered_bytes()), (0, 0));
    assert!(!old.on_result(in_flight.id, BatchOutcome::Delivered, 1));
    assert_eq!(old.sent(), 0);

    let mut new = delivery(json!({ "maxBuffered": 3, "batchSize": 3 }));
    new.take_over(handed);
    let stats = new.stats();
    assert_eq!((stats.buffered, stats.dropped.reconfigure), (3, 2));
    assert_eq!(stats.dropped.buffer_full, 0);
    let b = new.poll(0).unwrap();
    assert_eq!(lines(&b), ["r2", "r3", "r4"], "the newest are kept");
}

/// Closed mode refuses only while failing AND full; open mode never refuses.
#[test]
fn failure_mode_closed_gating() {
    let c = collector(json!({ "maxBuffered": 4, "batchSize": 2 }));
    let mut closed = Delivery::new(&c, FailureMode::Closed);
    let mut open = Delivery::new(&c, FailureMode::Open);
    for d in [&mut closed, &mut open] {
        push_n(d, 0, 4);
        assert!(!d.refuse_new_egress(), "full but healthy");
        let b = d.poll(0).unwrap();
        d.on_result(b.id, BatchOutcome::Failed, 0);
        assert!(!d.healthy());
    }
    assert!(closed.refuse_new_egress(), "failing and full");
    assert!(!open.refuse_new_egress());

    // Not full while failing: no refusal.
    let mut d = Delivery::new(&c, FailureMode::Closed);
    push_n(&mut d, 0, 1);
    let b = d.poll(0).unwrap();
    d.on_result(b.id, BatchOutcome::Failed, 0);
    assert!(!d.refuse_new_egress());

    // Recovery lifts the refusal.
    let b = closed.poll(100).unwrap();
    closed.on_result(b.id, BatchOutcome::Delivered, 100);
    assert!(closed.healthy() && !closed.refuse_new_egress());
}

/// An unvalidated zero config is clamped, never stalls or panics.
#[test]
fn zero_settings_are_clamped() {
    let mut d = delivery(
        json!({ "batchSize": 0, "maxBuffered": 0, "flushIntervalMs": 0,
        "timeoutMs": 0, "initialBackoffMs": 0, "maxBackoffMs": 0 }),
    );
    assert_eq!(d.push("a".into()), PushResult::Queued);
    assert_eq!(d.push("b".into()), PushResult::DroppedOldest);
    let b = d.poll(0).unwrap();
    assert_eq!(lines(&b), ["b"]);
    d.on_result(b.id, BatchOutcome::Failed, 0);
    assert_eq!(d.backoff_ms(), 1);
    assert!(d.poll(1).is_some());
}

proptest! {
    /// Whatever the interleaving of pushes, polls and outcomes, every record is delivered once,
    /// in order, or counted as dropped; the buffer never exceeds its bound.
    #[test]
    fn delivery_conserves_records(
        ops in prop::collection::vec(0u8..4, 1..200),
        max_buffered in 1u32..8,
        batch_size in 1u32..8,
    ) {
        let collector: HttpCollector = serde_json::from_value(json!({
            "cluster": "c", "authority": "a", "batchSize": batch_size.min(max_buffered),
            "maxBuffered": max_buffered, "flushIntervalMs": 10, "timeoutMs": 50,
            "initialBackoffMs": 5, "maxBackoffMs": 40,
        })).unwrap();
        let mut d = Delivery::new(&collector, FailureMode::Closed);
        let (mut now, mut next, mut pushed, mut dropped) = (0u64, 0u64, 0u64, 0u64);
        let mut delivered: Vec<u64> = Vec::new();
        let mut in_flight = None;
        for op in ops {
            now += 3;
            match op {
                0 | 1 => {
                    let r = d.push(next.to_string());
                    next += 1;
                    pushed += 1;
                    dropped += u64::from(r.dropped());
                    prop_assert!(r != PushResult::DroppedNew || batch_size >= max_buffered);
                }
                2 => {
                    if let Some(b) = d.poll(now) {
                        // A batch still held here has expired (answer lost): its late
                        // answer must be ignored, its records are in the new batches.
                        if let Some(stale) = in_flight.replace(b) {
                            prop_assert!(!d.on_result(stale.id, BatchOutcome::Delivered, now));
                        }
                    }
                }
                _ => {
                    if let Some(b) = in_flight.take() {
                        let ok = now % 2 == 0;
                        let outcome = if ok { BatchOutcome::Delivered } else { BatchOutcome::Failed };
                        if d.on_result(b.id, outcome, now) && ok {
                            delivered.extend(b.body.lines().map(|l| l.parse::<u64>().unwrap()));
                        }
                    }
                }
            }
            prop_assert!(d.buffered() <= max_buffered as usize);
        }
        // Drain with a healthy collector.
        if let Some(b) = in_flight.take()
            && d.on_result(b.id, BatchOutcome::Delivered, now)
        {
            delivered.extend(b.body.lines().map(|l| l.parse::<u64>().unwrap()));
        }
        for _ in 0..1000 {
            now += 100;
            if let Some(b) = d.poll(now) {
                d.on_result(b.id, BatchOutcome::Delivered, now);
                delivered.extend(b.body.lines().map(|l| l.parse::<u64>().unwrap()));
            }
        }
        prop_assert_eq!(d.buffered(), 0);
        prop_assert!(delivered.windows(2).all(|w| w[0] < w[1]), "in order, no duplicate");
        prop_assert_eq!(d.sent(), delivered.len() as u64);
        prop_assert_eq!(d.dropped(), dropped);
        prop_assert_eq!(d.sent() + d.dropped(), pushed);
    }
}

/// Closed mode holds a new record back while the buffer is full, healthy or not; open mode
/// never does (it drops the oldest instead).
#[test]
fn closed_mode_holds_records_back_while_full() {
    let c = collector(json!({ "maxBuffered": 2, "batchSize": 2 }));
    let mut closed = Delivery::new(&c, FailureMode::Closed);
    let mut open = Delivery::new(&c, FailureMode::Open);
    for d in [&mut closed, &mut open] {
        push_n(d, 0, 1);
        assert!(!d.holds_back() && !d.full());
        push_n(d, 1, 1);
        assert!(d.full());
    }
    assert!(closed.holds_back());
    assert!(!open.holds_back());
    let b = closed.poll(0).unwrap();
    closed.on_result(b.id, BatchOutcome::Delivered, 1);
    assert!(!closed.holds_back(), "room again after a delivery");
}
