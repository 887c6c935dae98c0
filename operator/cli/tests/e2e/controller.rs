//! `portcullis controller` as a cluster runs it, against an in-process stand-in for the
//! Kubernetes API (list, watch, status subresource; see `portcullis-kube-fake` for what it
//! does not do), with a real Envoy bootstrapped to it: the resources read from the API
//! serve, a VirtualService change is followed with no failed request, the GatewayFilter
//! status says what runs where, and a broken VirtualService is reported where users look.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::http::get;
use crate::support::load::Load;
use crate::support::*;
use portcullis::envoy::EnvoyProcess;
use portcullis_kube_fake::FakeApi;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ISTIO: &str = "networking.istio.io/v1";
pub(crate) const FILTERS: &str = "portcullis.dev/v1alpha1";

pub(crate) fn gateway(port: u16) -> Value {
    json!({
        "apiVersion": ISTIO, "kind": "Gateway",
        "metadata": {"name": "my-gateway", "namespace": "default"},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{"port": {"number": port, "name": "http", "protocol": "HTTP"},
                         "hosts": ["dev.example.com", "test.example.com"]}]
        }
    })
}

pub(crate) fn service_entry(name: &str, host: &str, port: u16) -> Value {
    json!({
        "apiVersion": ISTIO, "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "hosts": [host], "location": "MESH_INTERNAL", "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": "127.0.0.1", "ports": {"http": port}}]
        }
    })
}

pub(crate) fn virtual_service(name: &str, host: &str, destination: &str) -> Value {
    json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "hosts": [host], "gateways": ["my-gateway"],
            "http": [{"name": name, "route": [{"destination": {"host": destination}}]}]
        }
    })
}

pub(crate) fn gateway_filter() -> Value {
    json!({
        "apiVersion": FILTERS, "kind": "GatewayFilter",
        "metadata": {"name": "ingress", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"istio": "ingressgateway"}}}
    })
}

pub(crate) async fn demo_upstream(name: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(portcullis::local::demo::serve(listener, name.to_string()));
    port
}

/// Polls `f` until it returns `Some`, for at most 30 s; on timeout shows the API requests.
pub(crate) async fn eventually<T>(
    api: &FakeApi,
    what: &str,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            let requests: Vec<String> = api
                .requests()
                .into_iter()
                .filter(|r| !r.contains("/leases"))
                .collect();
            let last = &requests[requests.len().saturating_sub(40)..];
            panic!(
                "timed out waiting for {what}; last API requests:\n{}",
                last.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn condition<'a>(filter: &'a Value, kind: &str) -> &'a Value {
    filter["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

pub(crate) struct Controller {
    child: tokio::process::Child,
    pub(crate) port: u16,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) async fn start_controller(api: &FakeApi, dir: &std::path::Path) -> Controller {
    let address = api.serve().await.unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, FakeApi::kubeconfig(address)).unwrap();
    let port = free_port();
    let (_, modules) = envoy_and_modules();
    let wasm_dir = match &modules.router {
        portcullis_envoy::WasmCode::Local(path) => path.parent().unwrap().to_path_buf(),
        other => panic!("modules must be files, not {other:?}"),
    };
    let log = std::fs::File::create(dir.join("controller.log")).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["controller", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--bind-address", "127.0.0.1", "--access-log", ""])
        .arg("--wasm-dir")
        .arg(&wasm_dir)
        .arg("--leader-elect")
        .args([
            "--lease-namespace",
            "portcullis-system",
            "--identity",
            "controller-0",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Controller { child, port }
}

async fn start_envoy(xds_port: u16, dir: &std::path::Path) -> EnvoyProcess {
    let labels = [("istio", "ingressgateway")];
    envoy_for_xds("ingressgateway-0", &labels, "default", xds_port, dir).await
}

pub(crate) fn filter_status(api: &FakeApi) -> Value {
    api.get("gatewayfilters", FILTERS, "default", "ingress")
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn envoy_follows_the_api_through_the_controller() {
    let dir = state_dir();
    portcullis::envoy::create_private_dir(&dir).unwrap();
    let dev = demo_upstream("dev").await;
    let test = demo_upstream("test").await;
    let gateway_port = free_port();

    let api = FakeApi::default();
    api.apply("gateways", gateway(gateway_port)).unwrap();
    api.apply(
        "serviceentries",
        service_entry("dev-upstream", "dev-upstream.demo.local", dev),
    )
    .unwrap();
    api.apply(
        "serviceentries",
        service_entry("test-upstream", "test-upstream.demo.local", test),
    )
    .unwrap();
    api.apply(
        "virtualservices",
        virtual_service("dev", "dev.example.com", "dev-upstream.demo.local"),
    )
    .unwrap();
    api.apply(
        "virtualservices",
        virtual_service("test", "test.example.com", "test-upstream.demo.local"),
    )
    .unwrap();
    api.apply("gatewayfilters", gateway_filter()).unwrap();

    let controller = start_controller(&api, &dir).await;
    let envoy = start_envoy(controller.port, &dir).await;
    let log = || std::fs::read_to_string(dir.join("controller.log")).unwrap_or_default();

    // The seed resources, read from the API, serve.
    eventually(&api, "dev.example.com to be routed", async || {
        let r = get("dev.example.com", "/")
            .try_send(gateway_port)
            .await
            .ok()?;
        (r.status == 200 && r.upstream() == "dev").then_some(())
    })
    .await;
    let r = get("test.example.com", "/").send(gateway_port).await;
    assert_eq!(r.upstream(), "test");
    let r = get("other.example.com", "/").send(gateway_port).await;
    assert_eq!(r.status, 404, "a host no Gateway lists is refused");

    // The status says what runs where.
    let first = eventually(
        &api,
        "the GatewayFilter to be programmed on 1 of 1",
        async || {
            let f = filter_status(&api);
            (f["status"]["proxies"] == "1/1" && condition(&f, "Programmed")["status"] == "True")
                .then_some(f)
        },
    )
    .await;
    let first_hash = first["status"]["compiledHash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first_hash.starts_with("sha256:"), "{first}");
    assert_eq!(condition(&first, "Accepted")["status"], "True", "{first}");
    assert_eq!(condition(&first, "Degraded")["status"], "False", "{first}");
    assert_eq!(first["status"]["observedGeneration"], 1);
    assert_eq!(first["status"]["hosts"], 2);
    assert_eq!(first["status"]["routes"], 2);
    let lease = api.get(
        "leases",
        "coordination.k8s.io/v1",
        "portcullis-system",
        "portcullis-controller",
    );
    assert_eq!(
        lease.as_ref().map(|l| l["spec"]["holderIdentity"].clone()),
        Some(json!("controller-0")),
        "{}",
        log()
    );

    // A VirtualService change under load: followed, with no failed request.
    let load = Load::start(gateway_port, "dev.example.com", &["dev", "test"], 4);
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.apply(
        "virtualservices",
        virtual_service("dev", "dev.example.com", "test-upstream.demo.local"),
    )
    .unwrap();
    eventually(&api, "the changed route to serve", async || {
        let r = get("dev.example.com", "/")
            .try_send(gateway_port)
            .await
            .ok()?;
        (r.upstream() == "test").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcome = load.finish().await;
    assert!(outcome.sent > 10);
    assert!(
        outcome.failures.is_empty(),
        "requests failed during the change: {:?}",
        outcome.failures
    );

    let second = eventually(&api, "the status to follow the change", async || {
        let f = filter_status(&api);
        let hash = f["status"]["compiledHash"].as_str()?.to_string();
        (hash != first_hash && f["status"]["proxies"] == "1/1").then_some(f)
    })
    .await;
    assert_eq!(
        condition(&second, "Programmed")["status"],
        "True",
        "{second}"
    );

    // A broken VirtualService: reported on the GatewayFilter and as an Event on it; the last
    // good configuration keeps serving.
    let mut broken = virtual_service("broken", "test.example.com", "test-upstream.demo.local");
    broken["spec"]["http"][0]["match"] = json!([{"uri": {"regex": "("}}]);
    api.apply("virtualservices", broken).unwrap();
    let third = eventually(
        &api,
        "the broken VirtualService to be reported",
        async || {
            let f = filter_status(&api);
            let ignored = f["status"]["ignored"].as_array()?;
            ignored
                .iter()
                .any(|i| i["resource"] == "VirtualService default/broken")
                .then_some(f)
        },
    )
    .await;
    assert_eq!(condition(&third, "Degraded")["status"], "True", "{third}");
    let r = get("dev.example.com", "/").send(gateway_port).await;
    assert_eq!(r.upstream(), "test", "the last good configuration serves");
    eventually(&api, "an event on the broken VirtualService", async || {
        api.list("events", "events.k8s.io/v1")
            .into_iter()
            .find(|e| {
                e["regarding"]["name"] == "broken" && e["regarding"]["kind"] == "VirtualService"
            })
    })
    .await;

    drop(envoy);
    drop(controller);
}
