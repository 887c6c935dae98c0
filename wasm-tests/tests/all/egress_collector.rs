//! The HTTP collector sink through the .wasm: records cross the shared queue to the root,
//! which batches them to the collector cluster; failed batches are retried after a backoff,
//! overflow is dropped and counted, and `failureMode: closed` refuses egress (503) while the
//! collector fails and the buffer is full.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::{Host, HttpCallout};
use serde_json::{Value, json};

use crate::fixtures::{EGRESS_AUDIT_ROOT_ID, egress_builder, egress_wire, status_of};

const COLLECTOR: &str = "outbound|4318||collector.audit.svc.cluster.local";

fn config(max_buffered: u32, failure_mode: &str) -> Value {
    egress_wire(json!({
        "allowedHosts": [{"host": "api.example.com", "rule": "ServiceEntry default/api"}],
        "audit": {
            "failureMode": failure_mode,
            "sink": {"http": {"cluster": COLLECTOR, "authority": "collector", "batchSize": 2,
                "flushIntervalMs": 100, "maxBuffered": max_buffered, "initialBackoffMs": 200,
                "maxBackoffMs": 800}}
        }
    }))
}

fn host(max_buffered: u32, failure_mode: &str) -> Host {
    egress_builder(&config(max_buffered, failure_mode), EGRESS_AUDIT_ROOT_ID)
        .build()
        .unwrap()
}

/// One full allowed request (its record is written in on_log).
fn request(host: &mut Host, path: &str) -> u32 {
    let mut s = host
        .http_request()
        .get("api.example.com", path)
        .send_headers_only()
        .unwrap();
    let status = status_of(&s);
    if status == 0 {
        s.respond_headers(200, &[], true);
    }
    s.finish();
    host.run_pending();
    status
}

fn pending(host: &Host) -> Vec<HttpCallout> {
    host.pending_callouts()
}

fn paths(c: &HttpCallout) -> Vec<String> {
    String::from_utf8_lossy(&c.body)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn counter(host: &Host, name: &str) -> i64 {
    host.metrics()
        .counter(&format!("portcullis.egress.{name}"))
        .unwrap_or(0)
}

/// Records are POSTed as JSON Lines to the collector cluster; a 2xx counts them sent.
#[test]
fn records_are_posted_in_batches_to_the_collector() {
    let mut h = host(100, "open");
    assert_eq!(request(&mut h, "/1"), 0);
    h.advance(1);
    let c = pending(&h);
    assert_eq!(c.len(), 1, "{}", h.report());
    assert_eq!(c[0].cluster, COLLECTOR);
    assert_eq!(c[0].header(":method"), Some("POST"));
    assert_eq!(c[0].header(":path"), Some("/v1/audit"));
    assert_eq!(c[0].header(":authority"), Some("collector"));
    assert_eq!(c[0].header("content-type"), Some("application/x-ndjson"));
    assert_eq!(paths(&c[0]), ["/1"]);
    request(&mut h, "/2");
    request(&mut h, "/3");
    assert_eq!(pending(&h).len(), 1, "one batch in flight at a time");
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    h.advance(100);
    let c = pending(&h);
    assert_eq!(paths(&c[0]), ["/2", "/3"]);
    h.answer_callout(c[0].token, 204, &[], b"").unwrap();
    assert_eq!(counter(&h, "sent"), 3);
    assert_eq!(counter(&h, "audited"), 3);
    assert_eq!(h.metrics().gauge("portcullis.egress.buffered"), Some(0));
}

/// A 503 and a reset both fail the batch; its records are retried after the backoff and
/// delivered once the collector recovers: nothing is lost while the buffer has room.
#[test]
fn failed_batches_are_retried_after_backoff_and_delivered_on_recovery() {
    let mut h = host(100, "open");
    request(&mut h, "/1");
    h.advance(1);
    let first = pending(&h)[0].token;
    h.answer_callout(first, 503, &[], b"unavailable").unwrap();
    assert_eq!(counter(&h, "failed_batches"), 1);
    request(&mut h, "/2");
    h.advance(100);
    assert!(pending(&h).is_empty(), "backing off (200 ms)");
    // The root polls on its 100 ms tick: the retry leaves on the first tick past the backoff.
    h.advance(200);
    let c = pending(&h);
    assert_eq!(
        paths(&c[0]),
        ["/1", "/2"],
        "the failed record is retried first"
    );
    h.fail_callout(c[0].token);
    assert_eq!(counter(&h, "failed_batches"), 2);
    h.advance(300);
    assert!(pending(&h).is_empty(), "backoff doubled to 400 ms");
    h.advance(200);
    let c = pending(&h);
    assert_eq!(paths(&c[0]), ["/1", "/2"]);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!((counter(&h, "sent"), counter(&h, "dropped")), (2, 0));
}

/// Beyond maxBuffered, the oldest waiting records are dropped and counted (failureMode open
/// keeps serving).
#[test]
fn overflow_while_failing_drops_the_oldest_records_and_counts_them() {
    let mut h = host(3, "open");
    request(&mut h, "/1");
    h.advance(1);
    let t = pending(&h)[0].token;
    h.fail_callout(t);
    for i in 2..=6 {
        assert_eq!(
            request(&mut h, &format!("/{i}")),
            0,
            "open mode keeps serving"
        );
    }
    assert_eq!(counter(&h, "dropped"), 3);
    h.advance(1000);
    let c = pending(&h);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(paths(&c[0]), ["/4", "/5"]);
    h.advance(100);
    let c = pending(&h);
    assert_eq!(paths(&c[0]), ["/6"]);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(counter(&h, "sent"), 3);
}

/// failureMode closed: while the collector fails and the buffer is full, new egress gets 503
/// with a body saying why (logged, not queued); after recovery egress flows again.
#[test]
fn closed_failure_mode_refuses_egress_while_the_collector_fails_and_the_buffer_is_full() {
    let mut h = host(2, "closed");
    request(&mut h, "/1");
    h.advance(1);
    let t = pending(&h)[0].token;
    h.answer_callout(t, 503, &[], b"").unwrap();
    assert_eq!(request(&mut h, "/2"), 0, "buffer not full yet");
    let mut s = h
        .http_request()
        .get("api.example.com", "/3")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_str(),
        "egress to \"api.example.com:443\" denied: audit records cannot be delivered (audit failure mode is closed)\n"
    );
    s.host().run_pending();
    s.finish();
    assert_eq!(counter(&h, "refused_audit_unavailable"), 1);
    assert_eq!(
        counter(&h, "dropped"),
        0,
        "the refusal did not displace a record"
    );
    h.advance(350);
    let c = pending(&h);
    assert_eq!(paths(&c[0]), ["/1", "/2"]);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(request(&mut h, "/4"), 0, "recovered");
    assert_eq!(counter(&h, "sent"), 2);
}

fn ids(c: &HttpCallout) -> Vec<String> {
    String::from_utf8_lossy(&c.body)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].to_string())
        .collect()
}

/// A batch the collector refuses for good (400) is dropped and counted by reason, not retried
/// in front of later records; a retried batch keeps its records' ids, so a collector that
/// stored it before the answer was lost can deduplicate.
#[test]
fn a_refused_batch_is_counted_and_a_retried_one_keeps_its_ids() {
    let mut h = host(100, "open");
    request(&mut h, "/1");
    h.advance(1);
    let c = pending(&h);
    h.answer_callout(c[0].token, 400, &[], b"bad batch")
        .unwrap();
    assert_eq!(
        (counter(&h, "dropped_rejected"), counter(&h, "dropped")),
        (1, 1)
    );
    assert_eq!(counter(&h, "rejected_batches"), 1);
    assert!(
        h.log_messages()
            .iter()
            .any(|m| m.contains("refused a batch with status 400")),
        "{:?}",
        h.log_messages()
    );
    request(&mut h, "/2");
    h.advance(100);
    let c = pending(&h);
    assert_eq!(paths(&c[0]), ["/2"], "no backoff, no retry of /1");
    let first_ids = ids(&c[0]);
    h.fail_callout(c[0].token);
    h.advance(300);
    let c = pending(&h);
    assert_eq!(ids(&c[0]), first_ids, "the same record, the same id");
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(counter(&h, "sent"), 1);
    assert_eq!(
        counter(&h, "audited"),
        counter(&h, "sent") + counter(&h, "dropped"),
        "every record is sent or counted as dropped"
    );
}

/// A configuration change while the collector fails: the retired root hands its records to
/// the new configuration through the shared queue, which delivers them once the collector
/// recovers; none is dropped.
#[test]
fn records_held_at_a_configuration_change_go_to_the_new_configuration() {
    let mut h = host(100, "open");
    request(&mut h, "/1");
    h.advance(1);
    let c = pending(&h);
    h.answer_callout(c[0].token, 503, &[], b"").unwrap();
    request(&mut h, "/2");
    let mut next = config(100, "open");
    next["configVersion"] = json!("sha256:egress1111111111");
    assert_eq!(h.reconfigure(next.to_string()).unwrap(), [true]);
    assert_eq!(counter(&h, "handed_over"), 2, "{}", h.report());
    h.advance(100);
    let c = pending(&h);
    assert_eq!(c.len(), 1, "{}", h.report());
    assert_eq!(paths(&c[0]), ["/1", "/2"]);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!((counter(&h, "sent"), counter(&h, "dropped")), (2, 0));
    assert_eq!(h.metrics().gauge("portcullis.egress.buffered"), Some(0));
}

/// A request whose header map is big enough to exhaust the per-callback fuel (about 7 M
/// instructions to read 4,000 headers, against 50 k for a plain request): the VM traps.
fn trap(host: &mut Host) -> u32 {
    let mut r = host.http_request().get("api.example.com", "/trap");
    for i in 0..4000 {
        r = r.header(&format!("x-pad-{i}"), "padding padding padding padding");
    }
    let s = r.send_headers_only().unwrap();
    let status = status_of(&s);
    s.finish();
    status
}

/// A VM that traps takes the records in its buffer with it. The held-records ledger, in
/// shared data that outlives the VM, lets the next VM's root count them: once the dead
/// VM's entry has not been refreshed for ten seconds, its records are `dropped_trap`, and
/// every record made is again sent, dropped with a reason, or held.
#[test]
fn records_lost_with_a_trapped_vm_are_counted() {
    let mut h = egress_builder(&config(100, "open"), EGRESS_AUDIT_ROOT_ID)
        .failure_policy(portcullis_wasm_tests::FailurePolicy::FailReload)
        .fuel_per_callback(2_000_000)
        .build()
        .unwrap();
    request(&mut h, "/1");
    h.advance(1);
    let c = pending(&h);
    h.answer_callout(c[0].token, 503, &[], b"").unwrap();
    request(&mut h, "/2");
    h.advance(100);
    assert_eq!(h.metrics().gauge("portcullis.egress.buffered"), Some(2));
    assert_eq!(trap(&mut h), 503, "{}", h.report());
    assert!(!h.failures().is_empty(), "the VM trapped");
    // After Envoy's reload backoff a new VM serves; its tick finds the dead VM's entry stale.
    h.advance(1000);
    assert_eq!(request(&mut h, "/3"), 0, "{}", h.report());
    assert_eq!(counter(&h, "dropped_trap"), 0, "not stale yet");
    h.advance(portcullis_core::audit::STALE_MS + 200);
    assert_eq!(counter(&h, "dropped_trap"), 2, "{}", h.report());
    // The collector has not answered /3's batch in all that time: it is retried.
    let mut c = pending(&h);
    for _ in 0..100 {
        if !c.is_empty() {
            break;
        }
        h.advance(100);
        c = pending(&h);
    }
    assert_eq!(paths(&c[0]), ["/3"]);
    h.answer_callout(c[0].token, 200, &[], b"").unwrap();
    assert_eq!(
        (
            counter(&h, "audited"),
            counter(&h, "sent"),
            counter(&h, "dropped")
        ),
        (3, 1, 2)
    );
    assert_eq!(h.metrics().gauge("portcullis.egress.buffered"), Some(0));
}
