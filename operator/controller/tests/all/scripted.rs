//! The reconciler against a scripted API (kube-rs's tower-test pattern): the exact requests it
//! makes (events, then one server-side-apply status patch with the controller's field
//! manager), and none at all when the status is already what it would write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use portcullis_controller::crd::{GatewayFilter, GatewayFilterSpec, WorkloadSelector};
use portcullis_controller::distribute::{Applier, Environment};
use portcullis_controller::inputs::{Objects, inputs, settings};
use portcullis_controller::metrics::Metrics;
use portcullis_controller::publish::Publication;
use portcullis_controller::reconcile::{Context, desired_status, identity, reconcile};
use portcullis_controller::watch::Changes;
use portcullis_xds::{Module, ModuleSource, ProxyDefaults, XdsServer};
use serde_json::{Value, json};
use tokio::sync::watch;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn gateway_filter() -> GatewayFilter {
    let mut f = GatewayFilter::new(
        "ingress",
        GatewayFilterSpec {
            selector: WorkloadSelector {
                match_labels: [("istio".to_string(), "ingressgateway".to_string())].into(),
            },
            ..GatewayFilterSpec::default()
        },
    );
    f.metadata.namespace = Some("edge".into());
    f.metadata.uid = Some("6b1c0d4e-0000-4000-8000-000000000001".into());
    f.metadata.generation = Some(3);
    f.metadata.resource_version = Some("41".into());
    f
}

fn istio(kind: &str, name: &str, spec: Value) -> Arc<kube::api::DynamicObject> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "edge"}, "spec": spec,
        }))
        .unwrap(),
    )
}

/// A context whose xDS server holds the published fixtures, and whose client is scripted.
fn context(filter: &GatewayFilter) -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let proxy = ProxyDefaults {
        bind_address: "0.0.0.0".into(),
        access_log: None,
        modules: ModuleSource::served(Module::new("router.wasm", b"\0asm".to_vec()), None),
    };
    let server = XdsServer::new(proxy.clone());
    let objects = Objects {
        istio: vec![
            istio(
                "Gateway",
                "gw",
                json!({"selector": {"istio": "ingressgateway"},
                "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["a.example.com"]}]}),
            ),
            istio(
                "VirtualService",
                "a",
                json!({"hosts": ["a.example.com"], "gateways": ["gw"],
                "http": [{"route": [{"destination": {"host": "a", "port": {"number": 80}}}]}]}),
            ),
        ],
        filters: vec![Arc::new(filter.clone())],
        ..Objects::default()
    };
    let built = inputs(&objects);
    server.publish(built.inputs);
    let (_, published) = watch::channel(Arc::new(Publication {
        generation: 1,
        unreadable: vec![],
        workloads: vec![settings(filter)],
    }));
    let mut writer: Writer<GatewayFilter> = Writer::default();
    writer.apply_watcher_event(&watcher::Event::InitApply(filter.clone()));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let (metrics, _) = Metrics::new();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "portcullis-controller".into(),
            instance: Some("controller-0".into()),
        },
    );
    let ctx = Context {
        client,
        server,
        published,
        recorder,
        filters: writer.as_reader(),
        metrics,
        changes: Changes::default(),
        environment: Environment {
            module_url: Some("http://portcullis.portcullis-system:15010".into()),
            proxy,
        },
        applier: Applier::default(),
    };
    (Arc::new(ctx), handle)
}

async fn body(request: Request<Body>) -> Value {
    let bytes = request.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn respond(send: tower_test::mock::SendResponse<Response<Body>>, value: &Value) {
    send.send_response(
        Response::builder()
            .status(200)
            .body(Body::from(serde_json::to_vec(value).unwrap()))
            .unwrap(),
    );
}

#[tokio::test]
async fn a_new_status_is_applied_once_after_its_events() {
    let filter = gateway_filter();
    let (ctx, mut handle) = context(&filter);
    let compiled = ctx.server.compiled(&identity(&filter)).await;
    let expected = desired_status(&filter, &ctx, &compiled, None).await;
    assert!(expected.compiled_hash.is_some(), "{expected:?}");

    let script = tokio::spawn(async move {
        // One event per condition that turned: Accepted, then Programmed (Pending: no proxy).
        for reason in ["Accepted", "Pending"] {
            let (request, send) = handle.next_request().await.expect("an event");
            assert_eq!(request.method(), http::Method::POST);
            assert_eq!(
                request.uri().path(),
                "/apis/events.k8s.io/v1/namespaces/edge/events"
            );
            let event = body(request).await;
            assert_eq!(event["reason"], reason);
            assert_eq!(event["regarding"]["kind"], "GatewayFilter");
            assert_eq!(event["regarding"]["name"], "ingress");
            assert_eq!(event["reportingController"], "portcullis-controller");
            respond(send, &event);
        }
        let (request, send) = handle.next_request().await.expect("a status patch");
        assert_eq!(request.method(), http::Method::PATCH);
        assert_eq!(
            request.uri().path(),
            "/apis/portcullis.dev/v1alpha1/namespaces/edge/gatewayfilters/ingress/status"
        );
        let query = request.uri().query().unwrap_or_default().to_string();
        assert!(
            query.contains("fieldManager=portcullis-controller"),
            "{query}"
        );
        assert!(query.contains("force=true"), "{query}");
        assert_eq!(
            request.headers()["content-type"],
            "application/apply-patch+yaml"
        );
        let patch = body(request).await;
        let mut object = serde_json::to_value(gateway_filter()).unwrap();
        object["status"] = patch["status"].clone();
        respond(send, &object);
        patch
    });
    reconcile(Arc::new(filter), Arc::clone(&ctx)).await.unwrap();
    let patch = script.await.unwrap();
    assert_eq!(patch["apiVersion"], "portcullis.dev/v1alpha1");
    assert_eq!(patch["kind"], "GatewayFilter");
    assert_eq!(patch["status"], serde_json::to_value(&expected).unwrap());
    assert_eq!(patch["status"]["observedGeneration"], 3);
    assert_eq!(
        patch.as_object().unwrap().len(),
        3,
        "only the status is applied: {patch}"
    );
}

#[tokio::test]
async fn an_unchanged_status_is_not_written() {
    let mut filter = gateway_filter();
    let (ctx, _handle) = context(&filter);
    let compiled = ctx.server.compiled(&identity(&filter)).await;
    filter.status = Some(desired_status(&filter, &ctx, &compiled, None).await);
    // The handle never answers: a request would hang the reconcile.
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reconcile(Arc::new(filter), ctx),
    )
    .await;
    assert!(result.is_ok(), "the reconcile made a request");
    result.unwrap().unwrap();
}
