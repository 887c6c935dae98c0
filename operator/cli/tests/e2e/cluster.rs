//! Against a real cluster (ignored unless run with `--ignored`; `cargo xtask test` runs it when
//! `KUBECONFIG` is set): the GatewayFilter CRD is applied, `portcullis controller` runs here
//! against the cluster's API server scoped to a fresh namespace, and a local Envoy
//! bootstrapped to it serves the Gateway and VirtualService applied there (their destination
//! is a ServiceEntry pointing at a local upstream, so no in-cluster traffic is needed). The
//! cluster needs Istio's CRDs (`networking.istio.io/v1`). The namespace is deleted afterwards.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::http::get;
use crate::support::*;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use portcullis_controller::GatewayFilter;
use serde_json::json;

const MANAGER: &str = "portcullis-e2e";

async fn apply(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    plural: &str,
    version: &str,
    group: &str,
    object: serde_json::Value,
) {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind} {ns}/{name}: {e} (are Istio's CRDs installed?)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a cluster: KUBECONFIG"]
async fn a_cluster_programs_a_local_envoy() {
    let client = kube::Client::try_default()
        .await
        .expect("KUBECONFIG must point at a cluster");
    let ns = format!("portcullis-e2e-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await
        .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "gatewayfilters.portcullis.dev",
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(GatewayFilter::crd()),
    )
    .await
    .unwrap();
    kube::runtime::wait::await_condition(
        crds,
        "gatewayfilters.portcullis.dev",
        kube::runtime::wait::conditions::is_crd_established(),
    )
    .await
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().port();
    tokio::spawn(portcullis::local::demo::serve(
        listener,
        "local".to_string(),
    ));
    let gateway_port = free_port();
    let istio = |kind: &'static str, plural: &'static str, object: serde_json::Value| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            apply(
                &client,
                &ns,
                kind,
                plural,
                "v1",
                "networking.istio.io",
                object,
            )
            .await
        }
    };
    istio("Gateway", "gateways", json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": ns},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": gateway_port, "name": "http", "protocol": "HTTP"}, "hosts": ["dev.example.com"]}]}})).await;
    istio(
        "ServiceEntry",
        "serviceentries",
        json!({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "local", "namespace": ns},
        "spec": {"hosts": ["local.demo.local"], "location": "MESH_INTERNAL", "resolution": "STATIC",
                 "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                 "endpoints": [{"address": "127.0.0.1", "ports": {"http": upstream}}]}}),
    )
    .await;
    istio(
        "VirtualService",
        "virtualservices",
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "dev", "namespace": ns},
        "spec": {"hosts": ["dev.example.com"], "gateways": ["gw"],
                 "http": [{"route": [{"destination": {"host": "local.demo.local"}}]}]}}),
    )
    .await;
    apply(
        &client,
        &ns,
        "GatewayFilter",
        "gatewayfilters",
        "v1alpha1",
        "portcullis.dev",
        json!({
        "apiVersion": "portcullis.dev/v1alpha1", "kind": "GatewayFilter",
        "metadata": {"name": "ingress", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"istio": "ingressgateway"}}}}),
    )
    .await;

    let dir = state_dir();
    portcullis::envoy::create_private_dir(&dir).unwrap();
    let xds = free_port();
    let (_, modules) = envoy_and_modules();
    let portcullis_envoy::WasmCode::Local(router) = &modules.router else {
        panic!("modules must be files");
    };
    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "controller",
            "--listen",
            &format!("127.0.0.1:{xds}"),
            "--namespace",
            &ns,
        ])
        .args(["--bind-address", "127.0.0.1", "--access-log", ""])
        .arg("--wasm-dir")
        .arg(router.parent().unwrap())
        .stderr(std::fs::File::create(dir.join("controller.log")).unwrap())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let envoy = envoy_for_xds(
        "e2e-gateway",
        &[("istio", "ingressgateway")],
        &ns,
        xds,
        &dir,
    )
    .await;

    let filters: Api<GatewayFilter> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    let served = loop {
        let routed = get("dev.example.com", "/")
            .try_send(gateway_port)
            .await
            .is_ok_and(|r| r.upstream() == "local");
        let status = filters
            .get("ingress")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        if routed && status.proxies.as_deref() == Some("1/1") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "not served in time; status {status:?}; controller log:\n{}",
            std::fs::read_to_string(dir.join("controller.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        served
            .compiled_hash
            .is_some_and(|h| h.starts_with("sha256:"))
    );
    assert!(
        served
            .conditions
            .iter()
            .any(|c| c.type_ == "Programmed" && c.status == "True")
    );

    drop(envoy);
    let _ = controller.kill().await;
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
}
