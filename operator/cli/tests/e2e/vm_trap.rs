//! A VM trap under load through a real Envoy, with the failure policy Portcullis configures
//! for its filters (`FAIL_RELOAD`). The module is the test probe, told to trap on a marked
//! request (an `x-trap` header) and on a marked TLS-passthrough-like connection (`TRAP` in its
//! first bytes), in front of Envoy's router and tcp_proxy, while clients send unmarked traffic.
//! What must hold: a marked request or connection never reaches the upstream (fail closed, not
//! open); unmarked traffic fails at most while a trapped VM is being replaced; after each trap
//! the VM is reloaded and traffic flows again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TRAPS: usize = 5;

/// The probe module, built for `wasm32-wasip1` (release) into the test host's artifact
/// directory, as the wasm-tests suite builds it; cargo returns at once when it is up to date.
fn probe_wasm() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target/wasm-artifacts");
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip1"])
        .args(["-p", "portcullis-wasm-probe", "--target-dir"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building the probe failed");
    target.join("wasm32-wasip1/release/portcullis_wasm_probe.wasm")
}

/// The failure policy the renderer gives Portcullis's wasm filters, as Envoy reads it.
fn portcullis_failure_policy() -> Value {
    let policy = portcullis_envoy::api::FailurePolicy::default();
    let value = serde_json::to_value(policy).unwrap();
    assert_eq!(value, "FAIL_RELOAD", "the policy this test is about");
    value
}

fn plugin(name: &str, module: &std::path::Path, config: Value) -> Value {
    json!({
        "name": name,
        "root_id": name,
        "vm_config": {
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": { "local": { "filename": module.display().to_string() } },
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": config.to_string(),
        },
        "failure_policy": portcullis_failure_policy(),
    })
}

fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": [{ "endpoint": {
            "address": { "socket_address": { "address": "127.0.0.1", "port_value": port } } } }] }] },
    })
}

fn listener(name: &str, port: u16, filters: Value) -> Value {
    json!({
        "name": name,
        "address": { "socket_address": { "address": "127.0.0.1", "port_value": port } },
        "filter_chains": [{ "filters": filters }],
    })
}

fn bootstrap(module: &std::path::Path, ports: (u16, u16, u16, u16)) -> Value {
    let (http, tcp, http_up, tcp_up) = ports;
    let http_probe = plugin(
        "trap_http",
        module,
        json!({ "on_request_headers": [{ "op": "trap_if_header", "map": 0, "key": "x-trap" }] }),
    );
    let tcp_probe = plugin(
        "trap_tcp",
        module,
        json!({ "context_type": "tcp",
                "on_downstream_data": [{ "op": "trap_if_buffer", "type": 2, "contains": "TRAP" }] }),
    );
    let hcm = json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "trap",
            "route_config": { "virtual_hosts": [{ "name": "all", "domains": ["*"],
                "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": "http_upstream" } }] }] },
            "http_filters": [
                { "name": "probe", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": http_probe } },
                { "name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
            ],
        },
    });
    let tcp_filters = json!([
        { "name": "probe", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
            "config": tcp_probe } },
        { "name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "trap_tcp", "cluster": "tcp_upstream" } },
    ]);
    json!({
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": [listener("http", http, json!([hcm])), listener("tcp", tcp, tcp_filters)],
            "clusters": [cluster("http_upstream", http_up), cluster("tcp_upstream", tcp_up)],
        },
    })
}

/// An HTTP upstream answering 200 to every request; it counts the requests that carry the
/// trap marker (which must never arrive).
async fn http_upstream(listener: TcpListener, marked: Arc<AtomicU64>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let marked = marked.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                if String::from_utf8_lossy(&buf[..end])
                    .to_ascii_lowercase()
                    .contains("x-trap")
                {
                    marked.fetch_add(1, Ordering::Relaxed);
                }
                buf.drain(..end);
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if stream.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A TCP upstream echoing what it receives; it counts connections that sent the marker.
async fn tcp_upstream(listener: TcpListener, marked: Arc<AtomicU64>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let marked = marked.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
                if chunk[..n].windows(4).any(|w| w == b"TRAP") {
                    marked.fetch_add(1, Ordering::Relaxed);
                }
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// One connection through the TCP listener: sends `payload`, returns what came back before
/// the connection closed or a second passed.
async fn tcp_exchange(port: u16, payload: &[u8]) -> Vec<u8> {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(payload).await?;
        let mut got = vec![0u8; payload.len()];
        s.read_exact(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    };
    match tokio::time::timeout(Duration::from_secs(1), io).await {
        Ok(Ok(got)) => got,
        _ => Vec::new(),
    }
}

/// Unmarked traffic: `(sent, failed, failed after the last trap settled)`.
#[derive(Default)]
struct Tally {
    sent: u64,
    failed: u64,
    failed_late: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_vm_fails_closed_and_is_reloaded_under_load() {
    let module = probe_wasm();
    let (http, tcp) = (free_port(), free_port());
    let (http_up, tcp_up) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let ports = (
        http,
        tcp,
        http_up.local_addr().unwrap().port(),
        tcp_up.local_addr().unwrap().port(),
    );
    let (marked_http, marked_tcp) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    tokio::spawn(http_upstream(http_up, marked_http.clone()));
    tokio::spawn(tcp_upstream(tcp_up, marked_tcp.clone()));

    let dir = state_dir();
    portcullis::envoy::create_private_dir(&dir).unwrap();
    let file = dir.join("bootstrap.json");
    std::fs::write(&file, bootstrap(&module, ports).to_string()).unwrap();
    let (binary, _) = envoy_and_modules();
    let opts = portcullis::envoy::EnvoyProcessOptions {
        binary: binary.path,
        bootstrap: file,
        log_path: dir.join("envoy.log"),
        concurrency: 1,
        admin_port: 0,
    };
    let mut envoy = portcullis::envoy::EnvoyProcess::start(&opts, Duration::from_secs(30))
        .await
        .unwrap();

    // Unmarked load: HTTP and TCP clients, until the traps are over.
    let stop = Arc::new(AtomicBool::new(false));
    let settled = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new((Tally::default(), Tally::default())));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, settled, tally) = (stop.clone(), settled.clone(), tally.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // Sampled before the request: one sent while a VM was still being
                    // replaced may come back after the flag is set.
                    let late = settled.load(Ordering::Relaxed);
                    let ok = if i < 3 {
                        http::get("any.example.com", "/")
                            .try_send(http)
                            .await
                            .is_ok_and(|r| r.status == 200)
                    } else {
                        tcp_exchange(tcp, b"hello").await == b"hello"
                    };
                    let mut t = tally.lock().unwrap();
                    let t = if i < 3 { &mut t.0 } else { &mut t.1 };
                    t.sent += 1;
                    t.failed += u64::from(!ok);
                    t.failed_late += u64::from(!ok && late);
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut marked_answers = Vec::new();
    for _ in 0..TRAPS {
        let answer = http::get("any.example.com", "/")
            .header("x-trap", "1")
            .try_send(http)
            .await;
        marked_answers.push(answer.map_or(0, |r| r.status));
        assert!(
            tcp_exchange(tcp, b"TRAP").await.is_empty(),
            "a trapped connection echoes nothing"
        );
        // Recovered: unmarked traffic goes through the reloaded VM.
        let mut recovered = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = http::get("any.example.com", "/").try_send(http).await;
            if r.is_ok_and(|r| r.status == 200) && tcp_exchange(tcp, b"again").await == b"again" {
                recovered = true;
                break;
            }
        }
        assert!(recovered, "the VM came back; log:\n{}", envoy.log_tail(30));
    }
    // Requests already under way when the last reload finished may still fail with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    settled.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    assert!(
        marked_answers.iter().all(|s| *s != 200),
        "{marked_answers:?}"
    );
    assert_eq!(
        marked_http.load(Ordering::Relaxed),
        0,
        "a marked request reached the upstream"
    );
    assert_eq!(
        marked_tcp.load(Ordering::Relaxed),
        0,
        "a marked connection reached the upstream"
    );
    let (h, t) = std::mem::take(&mut *tally.lock().unwrap());
    assert!(
        h.sent > 100 && t.sent > 20,
        "load ran: {} HTTP, {} TCP",
        h.sent,
        t.sent
    );
    assert_eq!(
        (h.failed_late, t.failed_late),
        (0, 0),
        "traffic after the last reload fails"
    );
    let reloads = envoy.admin().stats("wasm").await.unwrap_or_default();
    eprintln!(
        "vm trap: {TRAPS} marked requests answered {marked_answers:?}, {TRAPS} marked connections \
         closed, none reached an upstream; unmarked: {} HTTP requests ({} failed while a VM was \
         replaced), {} TCP connections ({} failed); 0 failed after the last reload; wasm stats: {:?}",
        h.sent,
        h.failed,
        t.sent,
        t.failed,
        reloads
            .iter()
            .filter(|(k, _)| k.contains("reload") || k.contains("crash"))
            .collect::<Vec<_>>()
    );
    assert!(envoy.exited().is_none(), "Envoy itself survived the traps");
    envoy.stop().await.unwrap();
}
