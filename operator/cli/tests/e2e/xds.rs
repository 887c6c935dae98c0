//! The xDS server with real Envoys: configuration per gateway workload, refusals reported per
//! proxy, and both sides restarting without losing what serves.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::http::get;
use crate::support::*;
use portcullis::envoy::EnvoyProcess;
use portcullis::local::Compiled;
use portcullis::local::demo::DemoUpstreams;
use portcullis_compile::compile::CompileOptions;
use portcullis_compile::load::load_str;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use portcullis_envoy::WasmCode;
use portcullis_xds::{Inputs, Module, ModuleSource, ProxyDefaults, ProxyStatus, XdsServer};
use serde_json::json;
use tokio::net::TcpListener;

/// Two Gateways on different ports, each selecting its own workload, routing to the same
/// demo upstream.
fn two_gateways(port_a: u16, port_b: u16, upstream: u16) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: a, namespace: istio-system}}
spec:
  selector: {{app: gateway-a}}
  servers:
  - port: {{number: {port_a}, name: http, protocol: HTTP}}
    hosts: [a.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: b, namespace: istio-system}}
spec:
  selector: {{app: gateway-b}}
  servers:
  - port: {{number: {port_b}, name: http, protocol: HTTP}}
    hosts: [b.example.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: up, namespace: istio-system}}
spec:
  hosts: [up.demo.local]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: both, namespace: istio-system}}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [a, b]
  http:
  - route: [{{destination: {{host: up.demo.local}}}}]
"
    )
}

/// A standalone server (as the controller runs it) on a free port, serving `inputs`.
async fn server(inputs: Inputs) -> (XdsServer, u16, tokio::task::JoinHandle<()>) {
    let (_, wasm) = envoy_and_modules();
    let read = |code: &WasmCode| match code {
        WasmCode::Local(path) => Module::new("m.wasm", std::fs::read(path).unwrap()),
        other => panic!("{other:?}"),
    };
    let server = XdsServer::new(ProxyDefaults {
        bind_address: "127.0.0.1".into(),
        access_log: None,
        modules: ModuleSource::served(read(&wasm.router), wasm.egress_audit.as_ref().map(read)),
    });
    server.publish(inputs);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = server.clone();
    let task = tokio::spawn(async move {
        serving
            .serve(listener, std::future::pending::<()>())
            .await
            .unwrap();
    });
    (server, port, task)
}

/// An Envoy bootstrapped to the server at `xds_port` as node `node_id` with `labels`.
async fn envoy(node_id: &str, labels: &[(&str, &str)], xds_port: u16) -> EnvoyProcess {
    envoy_for_xds(node_id, labels, "istio-system", xds_port, &state_dir()).await
}

/// Waits until `node` satisfies `pred` in the server's status.
async fn wait_status(
    server: &XdsServer,
    node: &str,
    pred: impl Fn(&ProxyStatus) -> bool,
) -> ProxyStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = server.status().into_iter().find(|s| s.node_id == node);
        if let Some(s) = &status
            && pred(s)
        {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "{node}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn resources(yaml: &str) -> Inputs {
    let loaded = load_str(yaml, Some("test.yaml"));
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    Inputs::Resources {
        resources: loaded.resources,
        options: CompileOptions::default(),
        workloads: vec![],
        read: loaded.diagnostics,
    }
}

async fn upstream(port: u16) -> DemoUpstreams {
    let mut demo = DemoUpstreams::default();
    let plan = EnvoyPlan {
        listeners: vec![],
        clusters: vec![local_cluster("outbound|80||up.demo.local", port)],
    };
    demo.ensure(&plan).await.unwrap();
    demo
}

async fn stop(envoy: EnvoyProcess, log: &Path) {
    let _ = log;
    envoy.stop().await.unwrap();
}

/// Two Envoys with different gateway labels get different configurations: each serves only
/// the Gateway its labels select.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_get_the_configuration_of_their_own_workload() {
    let (port_a, port_b, up) = (free_port(), free_port(), free_port());
    let _demo = upstream(up).await;
    let (server, xds, _task) = server(resources(&two_gateways(port_a, port_b, up))).await;
    let a = envoy("gw-a", &[("app", "gateway-a")], xds).await;
    let b = envoy("gw-b", &[("app", "gateway-b")], xds).await;
    let sa = wait_status(&server, "gw-a", ProxyStatus::synced).await;
    let sb = wait_status(&server, "gw-b", ProxyStatus::synced).await;
    assert_ne!(sa.acked, sb.acked, "one configuration per workload");

    let r = get("a.example.com", "/").send(port_a).await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "outbound|80||up.demo.local")
    );
    assert!(
        get("b.example.com", "/").try_send(port_b).await.is_ok(),
        "gateway b listens on its own port"
    );
    assert!(
        get("a.example.com", "/").try_send(port_b).await.is_err()
            || get("a.example.com", "/").send(port_b).await.status == 404,
        "gateway b does not serve gateway a's host"
    );
    // Neither Envoy listens on the other's port: the two listener sets are disjoint.
    let admin_a = a.admin().get("/listeners").await.unwrap();
    assert!(
        admin_a.contains(&port_a.to_string()) && !admin_a.contains(&port_b.to_string()),
        "{admin_a}"
    );
    stop(a, Path::new("")).await;
    stop(b, Path::new("")).await;
}

/// A proxy whose labels no Gateway selects gets an empty, valid configuration and a note in
/// its status, not an error loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unselected_proxy_gets_an_empty_configuration() {
    let (server, xds, _task) = server(resources(&two_gateways(free_port(), free_port(), 1))).await;
    let lonely = envoy("lonely", &[("app", "nobody")], xds).await;
    let status = wait_status(&server, "lonely", ProxyStatus::synced).await;
    assert_eq!(
        status.note.as_deref(),
        Some("no Gateway selects this proxy's labels")
    );
    assert!(status.last_nack.is_none(), "{status:?}");
    // Settled: no more pushes a second later.
    let pushes = |text: String| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("portcullis_xds_pushes_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before = pushes(server.metrics_text());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pushes(server.metrics_text()), before, "pushes keep coming");
    assert!(before <= 4, "{before} pushes for an empty configuration");
    let listeners = lonely.admin().get("/listeners").await.unwrap();
    assert!(listeners.trim().is_empty(), "{listeners}");
    stop(lonely, Path::new("")).await;
}

/// A configuration Envoy refuses leaves it serving the previous one entirely, and the
/// server's status names the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_reported_and_the_previous_configuration_serves() {
    let (bind, blue) = (free_port(), free_port());
    let mut gw = start(
        route(bind, "blue", blue, "/ok", "v1").wire,
        route(bind, "blue", blue, "/ok", "v1").plan,
    )
    .await;
    let bad = route(bind, "blue", blue, "(unclosed", "v2");
    let err = gw.apply(bad).await.unwrap_err();
    assert!(err.to_string().contains("portcullis.router"), "{err}");
    let status = gw.server().status().pop().unwrap();
    let nack = status.last_nack.clone().expect("a NACK in the status");
    assert_eq!(
        (nack.version.as_str(), nack.resource.as_str()),
        ("v2", "portcullis.router")
    );
    assert_eq!(status.acked.as_deref(), Some("v1"));
    let r = get("dev.example.com", "/").send(bind).await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "blue"));
    let metrics = gw.server().metrics_text();
    assert!(
        metrics.contains("portcullis_xds_nacks_total{resource_type=\"ecds\"} 1"),
        "{metrics}"
    );
    finish(gw).await;
}

/// A restarted Envoy reconnects and gets the current configuration, not the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_envoy_gets_the_current_configuration() {
    let (bind, blue, green) = (free_port(), free_port(), free_port());
    let first = route(bind, "blue", blue, "/ok", "v1");
    let mut gw = start(first.wire, first.plan).await;
    let mut second = route(bind, "green", green, "/ok", "v2");
    second.plan.clusters.push(local_cluster("blue", blue));
    gw.apply(second).await.unwrap();
    gw.restart_envoy().await.unwrap();
    let r = get("dev.example.com", "/").send(bind).await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "green"));
    finish(gw).await;
}

/// While the server is down Envoy keeps serving what it has; a new server resynchronises it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_keeps_serving_while_the_server_restarts() {
    let (bind, blue) = (free_port(), free_port());
    let first = route(bind, "blue", blue, "/ok", "v1");
    let mut gw = start(first.wire, first.plan).await;
    gw.restart_server(async {
        for _ in 0..10 {
            let r = get("dev.example.com", "/").send(bind).await;
            assert_eq!((r.status, r.upstream().as_str()), (200, "blue"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    let status = gw.server().status().pop().unwrap();
    assert!(status.synced_to("v1"), "{status:?}");
    finish(gw).await;
}

/// dev.example.com → `cluster`, with a regex route (an invalid regex makes the router refuse).
fn route(bind: u16, cluster: &str, port: u16, regex: &str, version: &str) -> Compiled {
    let wire = wire(json!({
        "version": 1,
        "configVersion": version,
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["dev.example.com"] }],
            "virtualHosts": [{ "name": "dev", "domains": ["dev.example.com"], "routes": [
                { "name": "re", "match": { "uri": { "regex": regex } },
                  "action": { "directResponse": { "status": 204 } } },
                { "name": "dev", "action": { "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } } },
            ]}],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![local_cluster(cluster, port)],
    };
    Compiled { wire, plan }
}
