//! The audit collector failing under load, through a real Envoy: down (503), slow (answers
//! after the callout timeout), refusing batches for good (400), then healthy again, while
//! clients keep sending egress requests. Every request's record must end sent or counted as
//! dropped with its reason, the buffer must stay within its bound, and with `failureMode:
//! closed` egress must be refused exactly while the collector is unavailable and the buffer
//! full.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::collector::{Audited, Collector, start_audited};
use crate::support::*;
use portcullis::local::LocalGateway;
use serde_json::json;

/// Egress clients: each sends `GET httpbin.org/load/<n>` back to back until stopped, and keeps
/// every answer's status with the time it came (from `start`).
struct Clients {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    answers: Arc<Mutex<Vec<(Duration, u16)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    fn start(bind: u16, count: usize, start: Instant) -> Self {
        let (stop, sent, answers) = (Arc::<AtomicBool>::default(), Arc::default(), Arc::default());
        let tasks = (0..count)
            .map(|_| {
                let (stop, sent, answers): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<Mutex<Vec<_>>>) =
                    (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&answers));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = sent.fetch_add(1, Ordering::Relaxed);
                        let status = http::get("httpbin.org", &format!("/load/{n}"))
                            .try_send(bind)
                            .await
                            .map_or(0, |r| r.status);
                        answers.lock().unwrap().push((start.elapsed(), status));
                    }
                })
            })
            .collect();
        Clients {
            stop,
            sent,
            answers,
            tasks,
        }
    }

    async fn finish(self) -> Vec<(Duration, u16)> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        assert_eq!(
            self.sent.load(Ordering::Relaxed) as usize,
            self.answers.lock().unwrap().len()
        );
        std::mem::take(&mut *self.answers.lock().unwrap())
    }
}

async fn counter(gw: &LocalGateway, name: &str) -> u64 {
    gw.admin()
        .counter(&format!("wasmcustom.portcullis.egress.{name}"))
        .await
        .unwrap()
}

/// Samples the `buffered` gauge every 20 ms until stopped; returns the highest value seen.
fn watch_buffered(
    admin: portcullis::envoy::Admin,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut highest = 0;
        while !stop.load(Ordering::Relaxed) {
            let stats = admin
                .stats("^wasmcustom.portcullis.egress.buffered$")
                .await
                .unwrap_or_default();
            let value = stats
                .values()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            highest = highest.max(value);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        highest
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_collector_under_load_loses_no_record_uncounted() {
    const MAX_BUFFERED: u64 = 150;
    let Audited {
        bind, state, gw, ..
    } = start_audited(
        Collector::default(),
        "faults-open",
        json!({}),
        json!({ "batchSize": 50, "maxBuffered": MAX_BUFFERED, "timeoutMs": 150 }),
    )
    .await;

    let start = Instant::now();
    let stop_watch = Arc::new(AtomicBool::new(false));
    let buffered = watch_buffered(gw.admin().clone(), stop_watch.clone());
    let clients = Clients::start(bind, 4, start);
    let phase = Duration::from_millis(1500);
    let set = |f: &dyn Fn(&mut Collector)| f(&mut state.lock().unwrap());
    tokio::time::sleep(phase).await;
    set(&|c| c.failing = true);
    tokio::time::sleep(phase).await;
    set(&|c| {
        c.failing = false;
        c.slow = Some(Duration::from_millis(400));
    });
    tokio::time::sleep(phase).await;
    set(&|c| {
        c.slow = None;
        c.rejecting = true;
    });
    tokio::time::sleep(phase).await;
    set(&|c| c.rejecting = false);
    tokio::time::sleep(phase).await;
    let answers = clients.finish().await;
    let flush = gw.flush_audit(Duration::from_secs(10)).await.unwrap();
    stop_watch.store(true, Ordering::Relaxed);
    let highest_buffered = buffered.await.unwrap();

    let requests = answers.len() as u64;
    let failed = answers.iter().filter(|(_, s)| *s != 200).count();
    assert_eq!(failed, 0, "failureMode open: egress is never refused");
    let (audited, sent, dropped) = (
        counter(&gw, "audited").await,
        counter(&gw, "sent").await,
        counter(&gw, "dropped").await,
    );
    let (full, rejected) = (
        counter(&gw, "dropped_buffer_full").await,
        counter(&gw, "dropped_rejected").await,
    );
    assert_eq!(flush.undelivered, 0, "{flush:?}");
    assert_eq!(audited, requests, "one record per request");
    assert_eq!(
        sent + dropped,
        audited,
        "every record sent or counted as dropped"
    );
    assert_eq!(full + rejected, dropped, "every drop has its reason");
    assert!(
        full > 0 && rejected > 0,
        "both reasons occurred: full {full}, rejected {rejected}"
    );
    // Each VM holds its own buffer: the worker's and the main thread's (which drains the
    // shared queue on its ticks too); the gauge is their sum.
    let bound = MAX_BUFFERED * 2;
    assert!(
        highest_buffered <= bound,
        "buffer bound held: {highest_buffered} > {bound}"
    );
    let (received, ids, refusals) = {
        let collector = state.lock().unwrap();
        let ids: BTreeSet<String> = collector
            .records
            .iter()
            .map(|r| r["id"].to_string())
            .collect();
        (collector.records.len(), ids, collector.refused)
    };
    assert!(
        ids.len() as u64 >= sent,
        "every acknowledged record reached the collector"
    );
    assert!(refusals > 0);
    eprintln!(
        "collector faults (open): {requests} requests, 0 refused; {audited} records: {sent} sent, \
         {dropped} dropped ({full} buffer full, {rejected} rejected); {} received ({} distinct, \
         duplicates from timed-out batches); buffered at most {highest_buffered} (bound \
         {MAX_BUFFERED} per VM, 2 VMs)",
        received,
        ids.len()
    );
    finish(gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_mode_closed_refuses_exactly_while_the_collector_is_unavailable() {
    const MAX_BUFFERED: u64 = 40;
    let Audited {
        bind, state, gw, ..
    } = start_audited(
        Collector::default(),
        "faults-closed",
        json!({ "failureMode": "closed" }),
        json!({ "batchSize": 20, "maxBuffered": MAX_BUFFERED }),
    )
    .await;

    let start = Instant::now();
    let clients = Clients::start(bind, 4, start);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let down = start.elapsed();
    state.lock().unwrap().failing = true;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let recovered = start.elapsed();
    state.lock().unwrap().failing = false;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answers = clients.finish().await;

    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(_, s)| *s == 503)
        .map(|(t, _)| *t)
        .collect();
    let other = answers
        .iter()
        .filter(|(_, s)| *s != 200 && *s != 503)
        .count();
    assert_eq!(other, 0, "only 200 or the audit refusal");
    assert!(
        !refused.is_empty(),
        "refused while the collector was down and the buffer full"
    );
    // Recovery: one retry after the backoff (at most maxBackoffMs, 400 ms) and a batch or two.
    let settled = recovered + Duration::from_millis(700);
    let (first, last) = (refused[0], *refused.iter().max().unwrap());
    assert!(
        first >= down,
        "refused at {first:?}, before the collector went down at {down:?}"
    );
    assert!(
        last <= settled,
        "refused at {last:?}, after recovery at {recovered:?}"
    );
    let after = answers.iter().filter(|(t, _)| *t > settled).count();
    assert!(after > 50, "traffic flowed again after recovery: {after}");

    let flush = gw.flush_audit(Duration::from_secs(10)).await.unwrap();
    let (audited, sent, dropped, logged) = (
        counter(&gw, "audited").await,
        counter(&gw, "sent").await,
        counter(&gw, "dropped").await,
        counter(&gw, "logged").await,
    );
    assert_eq!(flush.undelivered, 0, "{flush:?}");
    assert_eq!(audited, answers.len() as u64);
    assert_eq!(
        logged,
        refused.len() as u64,
        "each refusal is logged, not queued"
    );
    assert_eq!(dropped, 0, "closed mode displaced no record");
    assert_eq!(sent + logged, audited);
    eprintln!(
        "collector faults (closed): {} requests; {} refused with 503, from {first:?} to {last:?} \
         (collector down {down:?} to {recovered:?}); {sent} records sent, {logged} refusals logged, \
         0 dropped",
        answers.len(),
        refused.len()
    );
    finish(gw).await;
}
