//! The real controller (watches, publisher, kube-runtime Controller, lease) against an
//! in-process API with list and watch: fixtures applied through the API reach the xDS
//! server's compile output and the GatewayFilter status; a change is re-reconciled.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use portcullis_compile::compile::GatewayIdentity;
use portcullis_controller::leader::Election;
use portcullis_controller::publish::Debounce;
use portcullis_controller::watch::Scope;
use portcullis_controller::{Config, Running, run};
use portcullis_kube_fake::FakeApi;
use portcullis_xds::{Module, ModuleSource, ProxyDefaults};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const ISTIO: &str = "networking.istio.io/v1";
const FILTERS: &str = "portcullis.dev/v1alpha1";

fn fixtures(api: &FakeApi) {
    api.apply(
        "gateways",
        json!({
            "apiVersion": ISTIO, "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "edge"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["a.example.com", "b.example.com"]}]}
        }),
    )
    .unwrap();
    api.apply("virtualservices", json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "a", "namespace": "edge"},
        "spec": {"hosts": ["a.example.com"], "gateways": ["gw"],
                 "http": [{"route": [{"destination": {"host": "a.edge.svc.cluster.local", "port": {"number": 80}}}]}]}
    })).unwrap();
    api.apply(
        "gatewayfilters",
        json!({
            "apiVersion": FILTERS, "kind": "GatewayFilter",
            "metadata": {"name": "ingress", "namespace": "edge"},
            "spec": {"selector": {"matchLabels": {"istio": "ingressgateway"}}}
        }),
    )
    .unwrap();
}

async fn client(api: &FakeApi) -> kube::Client {
    let address = api.serve().await.unwrap();
    let kubeconfig = Kubeconfig::from_yaml(&FakeApi::kubeconfig(address)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn start(api: &FakeApi, election: Option<Election>) -> Running {
    let client = client(api).await;
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        scope: Scope::default(),
        election,
        debounce: Debounce::default(),
        proxy: ProxyDefaults {
            bind_address: "127.0.0.1".into(),
            access_log: None,
            // No Envoy runs here: the bytes are only hashed and carried.
            modules: ModuleSource::served(Module::new("router.wasm", b"\0asm".to_vec()), None),
        },
        instance: "test".into(),
        module_url: Some("http://portcullis.test:15010".into()),
    };
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let result = run(client, config, std::future::pending(), move |r| {
            let _ = tx.send(r);
        })
        .await;
        if let Err(e) = result {
            eprintln!("controller stopped: {e}");
        }
    });
    rx.await.unwrap()
}

async fn eventually<T>(api: &FakeApi, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; API requests:\n{}",
                api.requests().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn workload() -> GatewayIdentity {
    GatewayIdentity {
        labels: [("istio".to_string(), "ingressgateway".to_string())].into(),
        namespace: "edge".into(),
    }
}

fn condition(filter: &Value, kind: &str) -> Value {
    filter["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_from_the_api_compile_and_the_status_follows() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    let api = FakeApi::default();
    fixtures(&api);
    let running = start(&api, None).await;

    let compiled = eventually(&api, "a publication with the Gateway", async || {
        let c = running.server.compiled(&workload()).await;
        c.snapshot
            .as_ref()
            .is_some_and(|s| !s.listeners.is_empty())
            .then_some(c)
    })
    .await;
    assert_eq!(
        compiled.counts.hosts, 1,
        "only a.example.com has a VirtualService"
    );
    let version = compiled.snapshot.unwrap().version.clone();

    let status = eventually(&api, "the status", async || {
        let f = api.get("gatewayfilters", FILTERS, "edge", "ingress")?;
        (f["status"]["compiledHash"] == json!(version)).then_some(f)
    })
    .await;
    assert_eq!(condition(&status, "Accepted")["status"], "True");
    assert_eq!(
        condition(&status, "Programmed")["reason"],
        "Pending",
        "{status}"
    );
    assert_eq!(status["status"]["proxies"], "0/0");
    assert_eq!(status["status"]["observedGeneration"], 1);
    assert_eq!(status["status"]["workload"], "edge/istio=ingressgateway");

    // A second VirtualService: republished, re-reconciled.
    api.apply("virtualservices", json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "b", "namespace": "edge"},
        "spec": {"hosts": ["b.example.com"], "gateways": ["gw"],
                 "http": [{"route": [{"destination": {"host": "b.edge.svc.cluster.local", "port": {"number": 80}}}]}]}
    })).unwrap();
    let status = eventually(&api, "the status to count both hosts", async || {
        let f = api.get("gatewayfilters", FILTERS, "edge", "ingress")?;
        (f["status"]["hosts"] == 2).then_some(f)
    })
    .await;
    assert_ne!(status["status"]["compiledHash"], json!(version));

    // The metrics say the same, on the xDS server's /metrics.
    let metrics = running.server.metrics_text();
    for line in [
        "portcullis_controller_hosts{namespace=\"edge\",name=\"ingress\"} 2",
        "portcullis_controller_routes{namespace=\"edge\",name=\"ingress\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
    assert!(
        metrics
            .contains("portcullis_controller_config_bytes{namespace=\"edge\",name=\"ingress\"} ")
    );
    assert!(metrics.contains("portcullis_xds_connected_proxies 0"));
    assert!(metrics.trim_end().ends_with("# EOF"));
}

/// With leader election: the Lease is taken, then the controller publishes and writes status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_takes_the_lease_then_publishes() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info,kube_runtime=debug")
        .try_init();
    let api = FakeApi::default();
    fixtures(&api);
    let election = Election {
        namespace: "portcullis-system".into(),
        name: "portcullis-controller".into(),
        identity: "replica-a".into(),
        term: Duration::from_secs(15),
        retry: Duration::from_millis(200),
    };
    let running = start(&api, Some(election)).await;
    eventually(&api, "a publication", async || {
        let c = running.server.compiled(&workload()).await;
        c.snapshot
            .as_ref()
            .is_some_and(|s| !s.listeners.is_empty())
            .then_some(())
    })
    .await;
    let lease = api
        .get(
            "leases",
            "coordination.k8s.io/v1",
            "portcullis-system",
            "portcullis-controller",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    eventually(&api, "the status", async || {
        let f = api.get("gatewayfilters", FILTERS, "edge", "ingress")?;
        f["status"]["compiledHash"].as_str().map(|_| ())
    })
    .await;
}

/// `IstioWasmPlugin` mode: a WasmPlugin per module, owned by the GatewayFilter, with the
/// compiled configuration, the module's URL on this controller and its SHA-256; written once
/// per configuration hash; the status says it was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_mode_writes_one_wasm_plugin_per_configuration() {
    let api = FakeApi::default();
    fixtures(&api);
    let mut filter = api
        .get("gatewayfilters", FILTERS, "edge", "ingress")
        .unwrap();
    filter["spec"]["distribution"] = json!("IstioWasmPlugin");
    filter["spec"]["failurePolicy"] = json!("FailClose");
    api.apply("gatewayfilters", filter).unwrap();
    let _running = start(&api, None).await;

    let plugin = eventually(&api, "the WasmPlugin", async || {
        api.get(
            "wasmplugins",
            "extensions.istio.io/v1alpha1",
            "edge",
            "portcullis-ingress-router",
        )
    })
    .await;
    let sha = plugin["spec"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        plugin["spec"]["url"],
        format!("http://portcullis.test:15010/modules/{sha}")
    );
    assert_eq!(plugin["spec"]["pluginName"], "router");
    assert_eq!(plugin["spec"]["failStrategy"], "FAIL_CLOSE");
    assert_eq!(
        plugin["spec"]["selector"]["matchLabels"]["istio"],
        "ingressgateway"
    );
    assert_eq!(plugin["spec"]["pluginConfig"]["listeners"][0]["port"], 8080);
    let owner = &plugin["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "GatewayFilter");
    assert_eq!(owner["name"], "ingress");
    assert!(owner["uid"].as_str().is_some_and(|u| !u.is_empty()));

    let status = eventually(&api, "the status", async || {
        let f = api.get("gatewayfilters", FILTERS, "edge", "ingress")?;
        (condition(&f, "Programmed")["reason"] == "Applied").then_some(f)
    })
    .await;
    assert_eq!(condition(&status, "Programmed")["status"], "True");
    assert!(status["status"].get("proxies").is_none(), "{status}");

    // Reconciles that find the same configuration do not write it again.
    let writes = || {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("PATCH") && r.contains("/wasmplugins/"))
            .count()
    };
    assert_eq!(writes(), 1);
    api.apply("virtualservices", json!({
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "b", "namespace": "edge"},
        "spec": {"hosts": ["b.example.com"], "gateways": ["gw"],
                 "http": [{"route": [{"destination": {"host": "b.edge.svc.cluster.local", "port": {"number": 80}}}]}]}
    })).unwrap();
    eventually(
        &api,
        "the changed configuration to be written",
        async || (writes() == 2).then_some(()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(writes(), 2, "an unchanged configuration was written again");
}

/// `ConfigMap` mode: one ConfigMap of Envoy's files, owned by the GatewayFilter; written again
/// when the configuration changes or when a setting the configuration hash does not cover
/// (the module directory) does, and not otherwise; the status says it was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_mode_writes_the_envoy_files_once_per_content() {
    let api = FakeApi::default();
    fixtures(&api);
    let mut filter = api
        .get("gatewayfilters", FILTERS, "edge", "ingress")
        .unwrap();
    filter["spec"]["distribution"] = json!("ConfigMap");
    api.apply("gatewayfilters", filter.clone()).unwrap();
    let _running = start(&api, None).await;

    let get = || api.get("configmaps", "v1", "edge", "portcullis-ingress-config");
    let map = eventually(&api, "the ConfigMap", async || get()).await;
    assert_eq!(map["metadata"]["ownerReferences"][0]["name"], "ingress");
    let lds = map["data"]["lds.json"].as_str().unwrap();
    assert!(
        lds.contains("/etc/portcullis/config/ecds-router.json"),
        "{lds}"
    );
    let router = map["data"]["ecds-router.json"].as_str().unwrap();
    assert!(
        router.contains("/etc/portcullis/modules/portcullis_router.wasm"),
        "{router}"
    );
    let status = eventually(&api, "the status", async || {
        let f = api.get("gatewayfilters", FILTERS, "edge", "ingress")?;
        (condition(&f, "Programmed")["reason"] == "Applied").then_some(f)
    })
    .await;
    assert_eq!(condition(&status, "Accepted")["status"], "True");

    let writes = || {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("PATCH") && r.contains("/configmaps/"))
            .count()
    };
    assert_eq!(writes(), 1);
    filter["spec"]["configMap"] = json!({"moduleDir": "/opt/wasm"});
    api.apply("gatewayfilters", filter).unwrap();
    let moved = eventually(&api, "the new module directory", async || {
        get().filter(|m| {
            m["data"]["ecds-router.json"]
                .as_str()
                .is_some_and(|r| r.contains("/opt/wasm/portcullis_router.wasm"))
        })
    })
    .await;
    assert_eq!(
        moved["metadata"]["annotations"]["portcullis.dev/config-hash"],
        map["metadata"]["annotations"]["portcullis.dev/config-hash"],
        "the configuration itself did not change"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(writes(), 2, "an unchanged ConfigMap was written again");
}
