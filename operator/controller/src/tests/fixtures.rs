//! Objects as the watches deliver them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, ObjectMeta};
use serde_json::{Value, json};

use crate::crd::{GatewayFilter, GatewayFilterSpec, WorkloadSelector};

pub fn object(kind: &str, namespace: &str, name: &str, spec: Value) -> Arc<DynamicObject> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("fixture: {e}")),
    )
}

pub fn gateway(
    namespace: &str,
    name: &str,
    hosts: &[&str],
    credential: Option<&str>,
) -> Arc<DynamicObject> {
    let mut server =
        json!({"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": hosts});
    if let Some(credential) = credential {
        server = json!({
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": hosts,
            "tls": {"mode": "SIMPLE", "credentialName": credential},
        });
    }
    object(
        "Gateway",
        namespace,
        name,
        json!({"selector": {"istio": "ingressgateway"}, "servers": [server]}),
    )
}

pub fn virtual_service(
    namespace: &str,
    name: &str,
    host: &str,
    gateway: &str,
) -> Arc<DynamicObject> {
    object(
        "VirtualService",
        namespace,
        name,
        json!({"hosts": [host], "gateways": [gateway],
               "http": [{"route": [{"destination": {"host": "backend", "port": {"number": 80}}}]}]}),
    )
}

pub fn filter(
    namespace: &str,
    name: &str,
    created: i64,
    labels: &[(&str, &str)],
) -> Arc<GatewayFilter> {
    let mut f = GatewayFilter::new(
        name,
        GatewayFilterSpec {
            selector: WorkloadSelector {
                match_labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            ..GatewayFilterSpec::default()
        },
    );
    f.metadata.namespace = Some(namespace.to_string());
    f.metadata.uid = Some(format!("uid-{namespace}-{name}"));
    f.metadata.generation = Some(1);
    f.metadata.creation_timestamp = Some(Time(
        Timestamp::from_second(1_700_000_000 + created).unwrap_or(Timestamp::UNIX_EPOCH),
    ));
    Arc::new(f)
}

pub fn secret(namespace: &str, name: &str) -> Arc<Secret> {
    Arc::new(Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        ..Secret::default()
    })
}
