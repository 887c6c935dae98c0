//! The `ConfigMap` distribution as a cluster runs it: `portcullis controller` (against the
//! in-process API) writes the GatewayFilter's ConfigMap; the test plays the kubelet, projecting
//! each version into a volume with the kubelet's atomic `..data` swap; a real Envoy started
//! from `portcullis bootstrap --config-dir` with the modules `portcullis modules --copy-to`
//! put in place serves it, and follows a change through the swap with no failed request.

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_kube_fake::FakeApi;
use serde_json::{Value, json};

use crate::controller::{
    condition, demo_upstream, eventually, filter_status, gateway, gateway_filter, service_entry,
    start_controller, virtual_service,
};
use crate::support::http::get;
use crate::support::kubelet::ConfigMapVolume;
use crate::support::load::{Load, Outcome};
use crate::support::*;

const NAME: &str = "portcullis-ingress-config";

fn config_map(api: &FakeApi) -> Option<Value> {
    api.get("configmaps", "v1", "default", NAME)
}

fn data(config_map: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(config_map["data"].clone()).unwrap()
}

fn hash(config_map: &Value) -> String {
    config_map["metadata"]["annotations"]["portcullis.dev/config-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn portcullis(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "portcullis {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn envoy_follows_a_mounted_config_map_through_the_kubelet_swap() {
    let dir = state_dir();
    portcullis::envoy::create_private_dir(&dir).unwrap();
    let mount = dir.join("config");
    let module_dir = dir.join("modules");
    let dev = demo_upstream("dev").await;
    let test = demo_upstream("test").await;
    let gateway_port = free_port();

    let api = FakeApi::default();
    api.apply("gateways", gateway(gateway_port)).unwrap();
    for (name, host, port) in [
        ("dev-upstream", "dev-upstream.demo.local", dev),
        ("test-upstream", "test-upstream.demo.local", test),
    ] {
        api.apply("serviceentries", service_entry(name, host, port))
            .unwrap();
    }
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
    let mut filter = gateway_filter();
    filter["spec"]["distribution"] = json!("ConfigMap");
    filter["spec"]["configMap"] = json!({
        "mountPath": mount.display().to_string(),
        "moduleDir": module_dir.display().to_string(),
    });
    api.apply("gatewayfilters", filter).unwrap();

    // The pod's init container: the modules from the controller's image into a volume.
    let (_, modules) = envoy_and_modules();
    let portcullis_envoy::WasmCode::Local(router) = &modules.router else {
        panic!("modules must be files");
    };
    let copied = portcullis(&[
        "modules".as_ref(),
        "--copy-to".as_ref(),
        module_dir.as_os_str(),
        "--wasm-dir".as_ref(),
        router.parent().unwrap().as_os_str(),
    ]);
    assert!(
        copied.contains("portcullis_router.wasm sha256:"),
        "{copied}"
    );
    assert!(module_dir.join("portcullis_router.wasm").is_file());

    let controller = start_controller(&api, &dir).await;
    let first = eventually(&api, "the ConfigMap", async || config_map(&api)).await;
    let mut volume = ConfigMapVolume::new(&mount);
    volume.project(&data(&first));

    let bootstrap = portcullis(&[
        "bootstrap".as_ref(),
        "--config-dir".as_ref(),
        mount.as_os_str(),
        "--admin-port".as_ref(),
        "0".as_ref(),
        "--node-id".as_ref(),
        "ingressgateway-0".as_ref(),
    ]);
    let bootstrap_file = dir.join("bootstrap.json");
    std::fs::write(&bootstrap_file, bootstrap).unwrap();
    let (binary, _) = envoy_and_modules();
    let envoy = portcullis::envoy::EnvoyProcess::start(
        &portcullis::envoy::EnvoyProcessOptions {
            binary: binary.path,
            bootstrap: bootstrap_file,
            log_path: dir.join("envoy.log"),
            concurrency: 1,
            admin_port: 0,
        },
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    // The mounted files serve.
    eventually(&api, "dev.example.com to be routed", async || {
        let r = get("dev.example.com", "/")
            .try_send(gateway_port)
            .await
            .ok()?;
        (r.status == 200 && r.upstream() == "dev").then_some(())
    })
    .await;
    assert_eq!(
        get("test.example.com", "/")
            .send(gateway_port)
            .await
            .upstream(),
        "test"
    );
    let refused = get("other.example.com", "/").send(gateway_port).await;
    assert_eq!(refused.status, 404, "a host no Gateway lists is refused");

    // The status says the ConfigMap is applied, and cannot say more.
    let status = eventually(&api, "Programmed: Applied", async || {
        let f = filter_status(&api);
        (condition(&f, "Programmed")["reason"] == "Applied").then_some(f)
    })
    .await;
    assert_eq!(condition(&status, "Programmed")["status"], "True");
    assert!(
        condition(&status, "Programmed")["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("ConfigMap {NAME}"))),
        "{status}"
    );
    assert_eq!(
        status["status"]["compiledHash"].as_str(),
        Some(hash(&first).as_str())
    );
    assert!(status["status"].get("proxies").is_none(), "{status}");

    // A VirtualService change under load: a new ConfigMap, swapped in as the kubelet does;
    // Envoy follows with no failed request, and serves the old version until the swap.
    let load = Load::start(gateway_port, "dev.example.com", &["dev", "test"], 4);
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.apply(
        "virtualservices",
        virtual_service("dev", "dev.example.com", "test-upstream.demo.local"),
    )
    .unwrap();
    let second = eventually(&api, "the changed ConfigMap", async || {
        config_map(&api).filter(|c| hash(c) != hash(&first))
    })
    .await;
    // The cluster the old version routes to stays through the swap (Envoy reloads the
    // documents in no set order).
    assert!(
        second["metadata"]["annotations"]["portcullis.dev/retained-clusters"]
            .as_str()
            .is_some_and(|names| names.contains("dev-upstream.demo.local")),
        "{}",
        second["metadata"]
    );
    let r = get("dev.example.com", "/").send(gateway_port).await;
    assert_eq!(r.upstream(), "dev", "the old version serves until the swap");
    volume.project(&data(&second));
    eventually(&api, "the changed route to serve", async || {
        let r = get("dev.example.com", "/")
            .try_send(gateway_port)
            .await
            .ok()?;
        (r.upstream() == "test").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Outcome { sent, failures } = load.finish().await;
    assert!(sent > 10);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across the swap: {:?}; Envoy log:\n{}",
        failures.len(),
        sent,
        &failures[..failures.len().min(5)],
        envoy.log_tail(30)
    );

    // Each configuration is written once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = api
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH") && r.contains("/configmaps/"))
        .count();
    assert_eq!(writes, 2, "one write per configuration");

    drop(envoy);
    drop(controller);
    let _ = std::fs::remove_dir_all(&dir);
}
