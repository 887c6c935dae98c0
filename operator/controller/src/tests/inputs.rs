use std::collections::BTreeSet;

use portcullis_compile::compile::{CompileOptions, GatewayIdentity, compile};
use portcullis_xds::Inputs;

use super::fixtures::*;
use crate::inputs::{Objects, inputs, named_secrets, workloads};

fn compiled_hash(objects: &Objects) -> String {
    let Inputs::Resources { resources, .. } = inputs(objects).inputs else {
        panic!("resources expected");
    };
    let gateway = GatewayIdentity::default();
    let mut identity = gateway.clone();
    identity.namespace = "edge".into();
    compile(&resources, &identity, &CompileOptions::default()).content_hash
}

/// The stores hand objects out in any order; the inputs, and so the hash, do not depend on it.
#[test]
fn inputs_do_not_depend_on_store_order() {
    let a = Objects {
        istio: vec![
            gateway("edge", "gw", &["a.example.com", "b.example.com"], None),
            virtual_service("edge", "a", "a.example.com", "gw"),
            virtual_service("edge", "b", "b.example.com", "gw"),
        ],
        ..Objects::default()
    };
    let mut b = a.clone();
    b.istio.reverse();
    let (ia, ib) = (inputs(&a), inputs(&b));
    let (Inputs::Resources { resources: ra, .. }, Inputs::Resources { resources: rb, .. }) =
        (&ia.inputs, &ib.inputs)
    else {
        panic!("resources expected");
    };
    assert_eq!(ra, rb);
    assert_eq!(ra.virtual_services.len(), 2);
    assert_eq!(compiled_hash(&a), compiled_hash(&b));
    // …and a change does change it.
    let mut c = a.clone();
    c.istio.pop();
    assert_ne!(compiled_hash(&a), compiled_hash(&c));
}

/// An object the API holds but that is not a valid Istio resource is reported, not fatal.
#[test]
fn an_unreadable_object_is_reported_and_left_out() {
    let objects = Objects {
        istio: vec![
            gateway("edge", "gw", &["a.example.com"], None),
            object(
                "VirtualService",
                "edge",
                "bad",
                serde_json::json!({"hosts": "not-a-list"}),
            ),
        ],
        ..Objects::default()
    };
    let built = inputs(&objects);
    assert_eq!(built.unreadable.len(), 1, "{:?}", built.unreadable);
    assert_eq!(built.unreadable[0].resource, "VirtualService edge/bad");
    let Inputs::Resources { resources, .. } = built.inputs else {
        panic!("resources expected");
    };
    assert_eq!(resources.gateways.len(), 1);
    assert!(resources.virtual_services.is_empty());
}

/// Only the Secrets Gateways name are read, in the namespaces a gateway may run in: the
/// Gateway's and those of GatewayFilters.
#[test]
fn only_named_secrets_are_watched() {
    let objects = Objects {
        istio: vec![
            gateway("web", "gw", &["a.example.com"], Some("a-cert")),
            gateway("web", "plain", &["b.example.com"], None),
            virtual_service("web", "a", "a.example.com", "gw"),
        ],
        filters: vec![filter("edge", "ingress", 0, &[("istio", "ingressgateway")])],
        ..Objects::default()
    };
    let wanted = named_secrets(&objects);
    let expected: BTreeSet<(String, String)> = [("edge", "a-cert"), ("web", "a-cert")]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(wanted, expected);
}

/// Secrets reach the compile step as the Secrets a Gateway names.
#[test]
fn secrets_are_inputs() {
    let objects = Objects {
        secrets: vec![secret("edge", "a-cert")],
        ..Objects::default()
    };
    let Inputs::Resources { resources, .. } = inputs(&objects).inputs else {
        panic!("resources expected");
    };
    assert_eq!(resources.secrets.len(), 1);
    assert_eq!(resources.secrets[0].reference(), "Secret edge/a-cert");
}

/// With two GatewayFilters for one workload, the older one's settings come first (and so
/// apply: the xDS server takes the first that selects a workload), whatever their names.
#[test]
fn the_oldest_gateway_filter_applies() {
    let newer = filter("edge", "a-newer", 10, &[("istio", "ingressgateway")]);
    let mut older = (*filter("edge", "z-older", 1, &[("istio", "ingressgateway")])).clone();
    older.spec.failure_policy = crate::crd::FailurePolicy::FailOpen;
    let settings = workloads(&[newer, std::sync::Arc::new(older)]);
    assert_eq!(settings.len(), 2);
    assert_eq!(
        settings[0].failure_policy,
        portcullis_envoy::api::FailurePolicy::FailOpen
    );
    assert_eq!(
        settings[1].failure_policy,
        portcullis_envoy::api::FailurePolicy::FailReload
    );
}

/// GatewayFilter's egress deny answer becomes the compile step's override of the Gateway
/// annotation (E-4); absent, nothing is overridden.
#[test]
fn egress_deny_answer_becomes_an_override() {
    let mut f = (*filter("edge", "egress", 0, &[("istio", "egressgateway")])).clone();
    let key = "portcullis.dev/egress-deny-answer";
    assert_eq!(crate::inputs::settings(&f).audit.get(key), None);
    for (answer, value) in [
        (crate::crd::EgressDenyAnswer::RegistryOnly, "registry-only"),
        (crate::crd::EgressDenyAnswer::NotFound, "not-found"),
    ] {
        f.spec.egress_deny_answer = Some(answer);
        let s = crate::inputs::settings(&f);
        assert_eq!(s.audit.get(key).map(String::as_str), Some(value));
    }
}

/// GatewayFilter audit settings become the compile step's audit overrides.
#[test]
fn audit_settings_become_overrides() {
    let mut f = (*filter("edge", "egress", 0, &[("istio", "egressgateway")])).clone();
    f.spec.audit = Some(crate::crd::AuditSettings {
        sink: Some("http://collector.audit:8080/records".into()),
        failure_mode: Some(crate::crd::AuditFailureMode::Closed),
        include_query: Some(true),
        include_headers: vec!["user-agent".into()],
        redact_headers: vec!["authorization".into(), "cookie".into()],
    });
    let s = crate::inputs::settings(&f);
    let get = |k: &str| s.audit.get(k).map(String::as_str);
    assert_eq!(
        get("portcullis.dev/audit-sink"),
        Some("http://collector.audit:8080/records")
    );
    assert_eq!(get("portcullis.dev/audit-failure-mode"), Some("closed"));
    assert_eq!(get("portcullis.dev/audit-include-query"), Some("true"));
    assert_eq!(
        get("portcullis.dev/audit-include-headers"),
        Some("user-agent")
    );
    assert_eq!(
        get("portcullis.dev/audit-redact-headers"),
        Some("authorization,cookie")
    );
}
