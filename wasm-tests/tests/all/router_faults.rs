//! Fault injection through the .wasm (V-23): delays pause the stream until the root's tick
//! resumes it on the virtual clock; aborts answer locally; percentages are drawn per request.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::{Phase, Step};
use serde_json::{Value, json};

use crate::fixtures::{cluster, route, router, status_of, to, wire};

fn faulty(fault: Value) -> Value {
    wire(
        &["*"],
        vec![route(
            "r",
            json!({}),
            to(&cluster("a")),
            json!({"fault": fault}),
        )],
    )
}

/// V-23: a 100 % delay holds the request until the clock passes the delay, then it continues
/// to the chosen cluster.
#[test]
fn delay_pauses_until_the_clock_passes_it_then_resumes() {
    let mut host = router(&faulty(
        json!({"delay": {"fixedDelayMs": 2000, "percentage": 100.0}}),
    ));
    let mut s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.request_step(),
        Step::Paused(Phase::Headers),
        "{}",
        s.host_report()
    );
    s.host().advance(1000);
    assert_eq!(s.request_step(), Step::Paused(Phase::Headers));
    s.host().advance(999);
    assert_eq!(s.request_step(), Step::Paused(Phase::Headers));
    s.host().advance(1);
    assert_eq!(s.request_step(), Step::Continued, "{}", s.host_report());
    assert_eq!(s.upstream_cluster(), Some(cluster("a")));
    s.finish();
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.router.delayed"), Some(1));
    assert_eq!(m.counter("portcullis.router.routed"), Some(1));
    assert_eq!(
        host.tick_period(0).unwrap_or(0),
        0,
        "the tick is disarmed once no stream waits"
    );
}

/// V-23: several delayed streams resume each at its own time; a stream that ends while
/// delayed is forgotten without disturbing the others.
#[test]
fn concurrent_delays_resume_independently_and_a_reset_stream_is_forgotten() {
    let mut host = router(&faulty(
        json!({"delay": {"fixedDelayMs": 100, "percentage": 100.0}}),
    ));
    let first = host
        .http_request()
        .get("h", "/1")
        .send_headers_only()
        .unwrap()
        .id();
    host.advance(50);
    let second = host
        .http_request()
        .get("h", "/2")
        .send_headers_only()
        .unwrap()
        .id();
    let gone = host
        .http_request()
        .get("h", "/3")
        .send_headers_only()
        .unwrap();
    gone.finish();
    host.advance(50);
    let up = |h: &portcullis_wasm_tests::Host, id| h.stream(id).unwrap().upstream_cluster;
    assert_eq!(up(&host, first), Some(cluster("a")), "{}", host.report());
    assert_eq!(up(&host, second), None);
    host.advance(50);
    assert_eq!(up(&host, second), Some(cluster("a")));
    assert!(host.failures().is_empty(), "{:?}", host.failures());
}

/// V-23: an HTTP abort answers with its status and Envoy's fault body.
#[test]
fn abort_answers_with_its_status() {
    let mut host = router(&faulty(
        json!({"abort": {"httpStatus": 503, "percentage": 100.0}}),
    ));
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (503, "fault filter abort")
    );
    assert!(s.upstream_cluster().is_none());
    assert_eq!(host.metrics().counter("portcullis.router.aborted"), Some(1));
}

/// V-23: a gRPC abort answers 200 with `grpc-status`.
#[test]
fn grpc_abort_answers_200_with_grpc_status() {
    let mut host = router(&faulty(
        json!({"abort": {"grpcStatus": 14, "percentage": 100.0}}),
    ));
    let s = host
        .http_request()
        .get("h", "/svc/M")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 200);
    let grpc = r
        .headers
        .iter()
        .find(|(k, _)| k == "grpc-status")
        .map(|(_, v)| v.as_str());
    assert_eq!(grpc, Some("14"), "{r:?}");
}

/// V-23: percentages: 30 % aborts over 2000 requests land within 5 points; 0 % never fires.
#[test]
fn abort_percentage_is_drawn_per_request() {
    let mut host = router(&faulty(
        json!({"abort": {"httpStatus": 500, "percentage": 30.0},
        "delay": {"fixedDelayMs": 10, "percentage": 0.0}}),
    ));
    let mut aborted = 0;
    for _ in 0..2000 {
        let s = host
            .http_request()
            .get("h", "/")
            .send_headers_only()
            .unwrap();
        match status_of(&s) {
            500 => aborted += 1,
            0 => {}
            other => panic!("unexpected {other}"),
        }
        s.finish();
    }
    assert!((500..=700).contains(&aborted), "{aborted} of 2000");
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.router.delayed"), Some(0));
    assert_eq!(m.counter("portcullis.router.aborted"), Some(aborted));
}

/// V-23: delay and abort together: the abort wins locally, no stream is left paused.
#[test]
fn abort_with_delay_answers_at_once() {
    let mut host = router(&faulty(
        json!({"abort": {"httpStatus": 429, "percentage": 100.0},
        "delay": {"fixedDelayMs": 5000, "percentage": 100.0}}),
    ));
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 429);
}
