//! Egress audit delivered to an HTTP collector through a real Envoy: records are batched
//! through the shared queue and the root's tick, POSTed as JSON Lines, retried with backoff
//! while the collector fails, and delivered once it recovers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use portcullis::local::LocalGateway;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake collector saw, and how it answers.
#[derive(Default)]
pub(crate) struct Collector {
    /// POSTs refused so far (the first `fail_first` are answered 503).
    pub refused: usize,
    pub fail_first: usize,
    /// While set, every POST is answered 503.
    pub failing: bool,
    /// While set, every POST is answered 400 (a batch refused for good).
    pub rejecting: bool,
    /// While set, every POST is stored but answered only after this delay.
    pub slow: Option<Duration>,
    /// Records accepted, one JSON value per line.
    pub records: Vec<Value>,
}

/// The egress upstream and the audit collector on one port: GETs are the proxied egress
/// traffic (200), POSTs to `/v1/audit` are audit batches.
async fn serve(listener: TcpListener, state: Arc<Mutex<Collector>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(handle(stream, state.clone()));
    }
}

async fn handle(mut stream: TcpStream, state: Arc<Mutex<Collector>>) {
    let mut buf = Vec::new();
    loop {
        // One request per read loop: headers, then Content-Length bytes of body.
        let (head_end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        buf.drain(..head_end + length);
        let (status, delay) = if head.starts_with("POST /v1/audit") {
            let mut c = state.lock().unwrap();
            if c.failing || c.refused < c.fail_first {
                c.refused += 1;
                (503, None)
            } else if c.rejecting {
                (400, None)
            } else {
                c.records
                    .extend(body.lines().map(|l| serde_json::from_str(l).unwrap()));
                (200, c.slow)
            }
        } else {
            (200, None)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// An egress gateway at `bind` allowing httpbin.org, auditing to the collector on `port`.
fn collector_gateway(
    bind: u16,
    port: u16,
    version: &str,
) -> (portcullis_core::wire::WireConfig, EnvoyPlan) {
    collector_gateway_with(bind, port, version, json!({}), json!({}))
}

/// [`collector_gateway`] with `audit` fields (`failureMode`) and `sink` fields (`maxBuffered`,
/// `timeoutMs`, …) set over the defaults.
fn collector_gateway_with(
    bind: u16,
    port: u16,
    version: &str,
    audit: Value,
    sink: Value,
) -> (portcullis_core::wire::WireConfig, EnvoyPlan) {
    let egress_cluster = "outbound|80||httpbin.org";
    let collector_cluster = "portcullis.audit-collector";
    let mut http = json!({
        "cluster": collector_cluster, "authority": "collector", "path": "/v1/audit",
        "batchSize": 2, "flushIntervalMs": 50, "initialBackoffMs": 100, "maxBackoffMs": 400,
    });
    merge(&mut http, sink);
    let mut audit_json = json!({ "sink": { "http": http } });
    merge(&mut audit_json, audit);
    let wire = wire(json!({
        "version": 1,
        "configVersion": version,
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "istio-system/egress/http", "hosts": ["*"] }],
            "virtualHosts": [{ "name": "httpbin.org:80", "domains": ["httpbin.org"], "routes": [
                { "name": "httpbin", "action": { "route": { "destinations": [{ "cluster": egress_cluster, "weight": 100 }] } } }
            ]}],
        }],
        "egress": {
            "allowedHosts": [{ "host": "httpbin.org", "ports": [80], "rule": "ServiceEntry default/httpbin" }],
            "audit": audit_json,
        },
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Egress)],
        clusters: vec![
            local_cluster(collector_cluster, port),
            local_cluster(egress_cluster, port),
        ],
    };
    (wire, plan)
}

/// A running egress gateway and the fake collector it audits to.
pub(crate) struct Audited {
    /// The gateway's listener port.
    pub bind: u16,
    /// The collector's (and egress upstream's) port.
    pub port: u16,
    /// What the collector saw; changed to change how it answers.
    pub state: Arc<Mutex<Collector>>,
    pub gw: LocalGateway,
}

/// Starts a collector answering as `collector` says and a gateway auditing to it
/// ([`collector_gateway_with`]).
pub(crate) async fn start_audited(
    collector: Collector,
    version: &str,
    audit: Value,
    sink: Value,
) -> Audited {
    let (bind, port) = (free_port(), free_port());
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let state = Arc::new(Mutex::new(collector));
    tokio::spawn(serve(listener, state.clone()));
    let (wire, plan) = collector_gateway_with(bind, port, version, audit, sink);
    let gw = start_with(wire, plan, false).await;
    Audited {
        bind,
        port,
        state,
        gw,
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Records held while the collector is down survive a configuration change: Envoy retires
/// the old filter configuration's root contexts (`on_done`), which put their records back on
/// the shared queue for the new ones; once the collector recovers every record arrives, and
/// the counters account for every record made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_held_across_a_configuration_change_are_delivered() {
    let failing = Collector {
        failing: true,
        ..Collector::default()
    };
    let Audited {
        bind,
        port,
        state,
        mut gw,
    } = start_audited(failing, "v1", json!({}), json!({})).await;
    for i in 0..6 {
        let r = http::get("httpbin.org", &format!("/held/{i}"))
            .send(bind)
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let admin = gw.admin().clone();
    for _ in 0..100 {
        if admin
            .counter("wasmcustom.portcullis.egress.failed_batches")
            .await
            .unwrap()
            >= 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (wire, plan) = collector_gateway(bind, port, "v2");
    let report = gw
        .apply(portcullis::local::Compiled { wire, plan })
        .await
        .unwrap();
    assert!(!report.updated.is_empty(), "{report:?}");
    let r = http::get("httpbin.org", "/after").send(bind).await;
    assert_eq!(r.status, 200, "{r:?}");
    state.lock().unwrap().failing = false;

    let mut paths = std::collections::BTreeSet::new();
    for _ in 0..200 {
        paths = state
            .lock()
            .unwrap()
            .records
            .iter()
            .filter_map(|r| r["path"].as_str().map(str::to_string))
            .collect();
        if paths.len() >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected: std::collections::BTreeSet<String> = (0..6)
        .map(|i| format!("/held/{i}"))
        .chain(["/after".to_string()])
        .collect();
    assert_eq!(paths, expected, "log:\n{}", gw.envoy_log_tail(40));
    let counter = |name: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .counter(&format!("wasmcustom.portcullis.egress.{name}"))
                .await
                .unwrap()
        }
    };
    let handed_over = counter("handed_over").await;
    assert!(
        handed_over >= 1,
        "the retired configuration handed its records over"
    );
    let (audited, sent, dropped) = (
        counter("audited").await,
        counter("sent").await,
        counter("dropped").await,
    );
    let ids: std::collections::BTreeSet<String> = state
        .lock()
        .unwrap()
        .records
        .iter()
        .map(|r| r["id"].to_string())
        .collect();
    assert_eq!((audited, dropped), (7, 0));
    assert!(sent >= 7, "{sent}");
    assert_eq!(ids.len(), 7, "7 distinct records (duplicates share an id)");
    eprintln!(
        "reconfigure hand-over: 7 records made, {handed_over} handed over, {sent} sent, \
         {} received ({} distinct ids), 0 dropped",
        state.lock().unwrap().records.len(),
        ids.len()
    );
    finish(gw).await;
}

/// E-5 audit delivery: while the collector answers 503 the records stay buffered and the
/// batch is retried with backoff; after it recovers every record arrives exactly once, and
/// the filter's counters say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_collector_after_it_recovers() {
    let fail_twice = Collector {
        fail_first: 2,
        ..Collector::default()
    };
    let Audited {
        bind, state, gw, ..
    } = start_audited(fail_twice, "egress-collector", json!({}), json!({})).await;

    for i in 0..5 {
        let r = http::get("httpbin.org", &format!("/get/{i}"))
            .send(bind)
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = http::get("evil.example.com", "/x").send(bind).await;
    assert_eq!(r.status, 404, "{r:?}");

    let mut paths = Vec::new();
    for _ in 0..100 {
        paths = state
            .lock()
            .unwrap()
            .records
            .iter()
            .map(|r| r["path"].to_string())
            .collect();
        if paths.len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    paths.sort();
    assert_eq!(
        paths,
        [
            "\"/get/0\"",
            "\"/get/1\"",
            "\"/get/2\"",
            "\"/get/3\"",
            "\"/get/4\"",
            "\"/x\""
        ],
        "every record exactly once; log:\n{}",
        gw.envoy_log_tail(30)
    );
    {
        let collector = state.lock().unwrap();
        assert_eq!(
            collector.refused, 2,
            "the collector failed twice before accepting"
        );
        assert!(collector.records.iter().any(|r| r["decision"] == "denied"));
    }

    let admin = gw.admin();
    assert_eq!(
        admin
            .counter("wasmcustom.portcullis.egress.sent")
            .await
            .unwrap(),
        6
    );
    assert!(
        admin
            .counter("wasmcustom.portcullis.egress.failed_batches")
            .await
            .unwrap()
            >= 2
    );
    assert_eq!(
        admin
            .counter("wasmcustom.portcullis.egress.dropped")
            .await
            .unwrap(),
        0
    );
    finish(gw).await;
}

/// Before a local gateway stops Envoy it waits for the records still held: delivered when the
/// collector comes back within the wait, reported as undelivered when it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_waits_for_held_records() {
    let failing = Collector {
        failing: true,
        ..Collector::default()
    };
    let Audited {
        bind, state, gw, ..
    } = start_audited(failing, "flush", json!({}), json!({})).await;
    for i in 0..3 {
        let r = http::get("httpbin.org", &format!("/flush/{i}"))
            .send(bind)
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let down = gw.flush_audit(Duration::from_millis(600)).await.unwrap();
    assert_eq!((down.made, down.undelivered), (3, 3), "{down:?}");
    assert!(state.lock().unwrap().records.is_empty());

    let recover = {
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            state.lock().unwrap().failing = false;
        })
    };
    let up = gw.flush_audit(Duration::from_secs(10)).await.unwrap();
    recover.await.unwrap();
    assert_eq!((up.made, up.undelivered), (3, 0), "{up:?}");
    assert_eq!(state.lock().unwrap().records.len(), 3);
    eprintln!(
        "audit flush: collector down, 3 of 3 held after {:?}; recovered, 0 held after {:?}",
        down.waited, up.waited
    );
    finish(gw).await;
}
