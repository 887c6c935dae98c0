//! `portcullis up` as a user runs it: the real binary on a directory of Istio YAML with demo
//! upstreams; an edited VirtualService is applied live; a broken file keeps the last good
//! config serving; an Envoy killed from outside is restarted and serves the current config;
//! SIGTERM stops Envoy and the upstreams.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::http::get;
use crate::support::*;

const GATEWAY: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [dev.example.com]
";

pub(crate) fn service_entry(name: &str, port: u16) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: [{name}.demo.local]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"
    )
}

fn virtual_service(to: &str) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: dev, namespace: default}}
spec:
  hosts: [dev.example.com]
  gateways: [gw]
  http:
  - route:
    - destination: {{host: {to}.demo.local}}
"
    )
}

/// Polls until dev.example.com is answered by `cluster`, for at most ten seconds.
pub(crate) async fn wait_upstream(port: u16, cluster: &str) {
    let mut last = None;
    for _ in 0..200 {
        if let Ok(r) = get("dev.example.com", "/").try_send(port).await {
            if r.upstream() == cluster {
                return;
            }
            last = Some(r);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never answered by {cluster}; last response {last:?}");
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    // Write then rename, like an editor's safe save; the watcher must see it either way.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// `portcullis up` running on a fresh directory: the Gateway, the blue and green demo
/// upstreams, and the VirtualService sending dev.example.com to blue.
struct Up {
    dir: std::path::PathBuf,
    listen: u16,
    admin: u16,
    blue: u16,
    child: tokio::process::Child,
}

/// `portcullis up -f dir` with its state in `dir/.state`.
pub(crate) fn spawn_up(dir: &Path, listen: u16, admin: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["up", "-f"])
        .arg(dir)
        .args(["--port-offset", &(listen - 80).to_string()])
        .args(["--admin-port", &admin.to_string(), "--demo-upstreams"])
        .args(["--xds-port", "0", "--state-dir"])
        .arg(dir.join(".state"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn start_up() -> Up {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let (blue, green, admin) = (free_port(), free_port(), free_port());
    let listen = free_port();
    write(&dir, "gateway.yaml", GATEWAY);
    write(
        &dir,
        "upstreams.yaml",
        &format!(
            "{}---{}",
            service_entry("blue", blue),
            service_entry("green", green)
        ),
    );
    write(&dir, "vs.yaml", &virtual_service("blue"));
    let child = spawn_up(&dir, listen, admin);
    Up {
        dir,
        listen,
        admin,
        blue,
        child,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_applies_edits_live_and_stops_cleanly() {
    let Up {
        dir,
        listen,
        admin,
        blue,
        mut child,
    } = start_up();

    wait_upstream(listen, "outbound|80||blue.demo.local").await;

    write(&dir, "vs.yaml", &virtual_service("green"));
    wait_upstream(listen, "outbound|80||green.demo.local").await;

    // Envoy killed from outside: `up` notices, restarts it, and it serves the current config.
    let bootstrap = dir.join(".state").join("bootstrap.json");
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(&bootstrap)
        .status()
        .unwrap();
    assert!(killed.success(), "no Envoy to kill");
    tokio::time::sleep(Duration::from_millis(200)).await;
    wait_upstream(listen, "outbound|80||green.demo.local").await;

    // A broken edit: reported, and the last good config keeps serving.
    write(
        &dir,
        "vs.yaml",
        "kind: VirtualService\nspec: [not, a, map]\n",
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = get("dev.example.com", "/").send(listen).await;
    assert_eq!(r.upstream(), "outbound|80||green.demo.local", "{r:?}");

    // SIGTERM: `up` stops Envoy (admin gone) and exits successfully.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", admin)).is_err(),
        "Envoy still running"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", blue)).is_err(),
        "demo upstream still running"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An edit saved while `up` is still starting (the first compile done, Envoy not yet
/// serving) is applied once the gateway is up: the change detector's baseline is taken
/// before the files are read, not after the start, which would hide the edit for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_saved_during_startup_is_applied() {
    let Up {
        dir,
        listen,
        mut child,
        ..
    } = start_up();
    // The bootstrap is written after the first compile and before Envoy starts.
    let bootstrap = dir.join(".state").join("bootstrap.json");
    for _ in 0..600 {
        if bootstrap.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(bootstrap.exists(), "up never wrote {}", bootstrap.display());
    write(&dir, "vs.yaml", &virtual_service("green"));
    wait_upstream(listen, "outbound|80||green.demo.local").await;
    stop_up(&mut child).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether process `pid` is the Envoy started with `bootstrap`.
fn runs_envoy(pid: u32, bootstrap: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        c.split(|b| *b == 0)
            .any(|a| a == bootstrap.as_os_str().as_encoded_bytes())
    })
}

/// A SIGKILLed `up` cannot stop its Envoy, which runs on with the gateway's ports (its admin
/// port among them); the next `up` on the same state directory stops that Envoy first, then
/// serves as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_up_stops_the_envoy_a_killed_up_left_behind() {
    let Up {
        dir,
        listen,
        admin,
        mut child,
        ..
    } = start_up();
    wait_upstream(listen, "outbound|80||blue.demo.local").await;
    let state = dir.join(".state");
    let bootstrap = state.join("bootstrap.json");
    let pid: u32 = std::fs::read_to_string(state.join("envoy.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    child.kill().await.unwrap();
    assert!(runs_envoy(pid, &bootstrap), "the orphaned Envoy runs on");

    let mut again = spawn_up(&dir, listen, admin);
    wait_upstream(listen, "outbound|80||blue.demo.local").await;
    assert!(
        !runs_envoy(pid, &bootstrap),
        "the orphaned Envoy was stopped"
    );
    let now: u32 = std::fs::read_to_string(state.join("envoy.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(now, pid);
    assert!(runs_envoy(now, &bootstrap));

    stop_up(&mut again).await;
    assert!(!runs_envoy(now, &bootstrap), "SIGTERM stops the new Envoy");
    assert!(
        !state.join("envoy.pid").exists(),
        "a clean stop forgets the pid"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
