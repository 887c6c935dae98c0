//! The ConfigMap distribution's object, built from a real compile: where each document is,
//! what it names, and what it refuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use portcullis_compile::compile::GatewayIdentity;
use portcullis_xds::{Compiled, Module, ModuleSource, ProxyDefaults, compile_for};
use serde_json::{Value, json};

use super::fixtures::{filter, gateway, object, secret, virtual_service};
use crate::crd::{ConfigMapSettings, Distribution, GatewayFilter};
use crate::distribute::{Environment, Unbuildable, config_map, objects};
use crate::inputs::{Objects, inputs};

fn environment() -> Environment {
    Environment {
        module_url: None,
        proxy: ProxyDefaults {
            bind_address: "0.0.0.0".into(),
            access_log: None,
            modules: ModuleSource::served(Module::new("router.wasm", b"\0asm".to_vec()), None),
        },
    }
}

fn config_map_filter() -> GatewayFilter {
    let mut f = (*filter("edge", "ingress", 0, &[("istio", "ingressgateway")])).clone();
    f.spec.distribution = Distribution::ConfigMap;
    f
}

fn compiled(objects: Objects) -> Compiled {
    let built = inputs(&objects);
    let gateway = GatewayIdentity {
        labels: BTreeMap::from([("istio".into(), "ingressgateway".into())]),
        namespace: "edge".into(),
    };
    compile_for(&built.inputs, &environment().proxy, &gateway)
}

fn seed(f: &GatewayFilter) -> Compiled {
    compiled(Objects {
        istio: vec![
            gateway("edge", "gw", &["a.example.com"], None),
            virtual_service("edge", "a", "a.example.com", "gw"),
        ],
        filters: vec![Arc::new(f.clone())],
        ..Objects::default()
    })
}

fn document(data: &Value, key: &str) -> Value {
    let text = data[key]
        .as_str()
        .unwrap_or_else(|| panic!("no key {key} in {data}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// Every string in `value`, for looking for paths wherever they are nested.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn the_config_map_holds_every_document_for_its_mount() {
    let mut f = config_map_filter();
    f.spec.config_map = Some(ConfigMapSettings {
        mount_path: "/mnt/cfg".into(),
        module_dir: "/mnt/wasm".into(),
    });
    let compiled = seed(&f);
    let objects = objects(&f, &compiled, &environment(), None).unwrap_or_else(|e| panic!("{e}"));
    let [map] = objects.as_slice() else {
        panic!("one ConfigMap expected: {objects:?}")
    };
    assert_eq!(map["kind"], "ConfigMap");
    assert_eq!(map["metadata"]["name"], "portcullis-ingress-config");
    assert_eq!(map["metadata"]["namespace"], "edge");
    assert_eq!(
        map["metadata"]["ownerReferences"][0]["kind"],
        "GatewayFilter"
    );
    let version = compiled.snapshot.as_ref().map(|s| s.version.clone());
    assert_eq!(
        map["metadata"]["annotations"]["portcullis.dev/config-hash"].as_str(),
        version.as_deref()
    );
    let data = &map["data"];
    let keys: Vec<&str> = data
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "cds.json",
            "ecds-egress-audit.json",
            "ecds-portcullis.egress_audit_tcp.json",
            "ecds-router.json",
            "lds.json"
        ]
    );

    // The listeners name their filter configuration by its path in the mount, watching the
    // mount's root (where the kubelet renames `..data`).
    let mut lds = Vec::new();
    strings(&document(data, "lds.json"), &mut lds);
    assert!(
        lds.contains(&"/mnt/cfg/ecds-router.json".to_string()),
        "{lds:?}"
    );
    assert!(lds.contains(&"/mnt/cfg".to_string()), "{lds:?}");
    assert!(
        lds.iter()
            .filter(|s| s.ends_with(".json"))
            .all(|s| s.starts_with("/mnt/cfg/")),
        "{lds:?}"
    );
    // The router's code is a file in the module directory; its configuration is the wire
    // config the filters read.
    let router = document(data, "ecds-router.json");
    let mut ecds = Vec::new();
    strings(&router, &mut ecds);
    assert!(
        ecds.contains(&"/mnt/wasm/portcullis_router.wasm".to_string()),
        "{ecds:?}"
    );
    assert_eq!(router["version_info"].as_str(), version.as_deref());
    // A filter this version does not use has its (empty) key already.
    let unused = document(data, "ecds-egress-audit.json");
    assert_eq!(unused["resources"], json!([]));
}

#[test]
fn default_paths_are_the_documented_ones() {
    let f = config_map_filter();
    let data = config_map::documents(&f, &seed(&f), &environment()).unwrap_or_default();
    let lds = data.get("lds.json").cloned().unwrap_or_default();
    assert!(
        lds.contains("/etc/portcullis/config/ecds-router.json"),
        "{lds}"
    );
    let router = data.get("ecds-router.json").cloned().unwrap_or_default();
    assert!(
        router.contains("/etc/portcullis/modules/portcullis_router.wasm"),
        "{router}"
    );
}

#[test]
fn tls_material_is_refused_naming_the_secrets() {
    let f = config_map_filter();
    let mut cert = (*secret("edge", "edge-cert")).clone();
    cert.data = Some(BTreeMap::from([
        (
            "tls.crt".into(),
            ByteString(b"-----BEGIN CERTIFICATE-----\n".to_vec()),
        ),
        (
            "tls.key".into(),
            ByteString(b"-----BEGIN PRIVATE KEY-----\n".to_vec()),
        ),
    ]));
    let compiled = compiled(Objects {
        istio: vec![
            gateway("edge", "gw", &["a.example.com"], Some("edge-cert")),
            virtual_service("edge", "a", "a.example.com", "gw"),
        ],
        secrets: vec![Arc::new(cert)],
        filters: vec![Arc::new(f.clone())],
    });
    assert!(compiled.snapshot.is_some(), "{:?}", compiled.diagnostics);
    match objects(&f, &compiled, &environment(), None) {
        Err(Unbuildable::TlsMaterial(names)) => {
            assert!(!names.is_empty());
            let message = Unbuildable::TlsMaterial(names).to_string();
            assert!(message.contains("Xds"), "{message}");
        }
        other => panic!("TLS material must be refused: {other:?}"),
    }
}

#[test]
fn a_configuration_larger_than_a_config_map_is_refused_with_its_size() {
    let f = config_map_filter();
    let routes: Vec<Value> = (0..4000)
        .map(|i| {
            json!({"match": [{"uri": {"exact": format!("/a-rather-long-path-segment/number/{i:05}")}}],
                   "route": [{"destination": {"host": format!("backend-{i}"), "port": {"number": 80}}}]})
        })
        .collect();
    let compiled = compiled(Objects {
        istio: vec![
            gateway("edge", "gw", &["a.example.com"], None),
            object(
                "VirtualService",
                "edge",
                "big",
                json!({"hosts": ["a.example.com"], "gateways": ["gw"], "http": routes}),
            ),
        ],
        filters: vec![Arc::new(f.clone())],
        ..Objects::default()
    });
    assert!(compiled.snapshot.is_some(), "{:?}", compiled.error);
    match objects(&f, &compiled, &environment(), None) {
        Err(Unbuildable::TooLarge { bytes, limit }) => {
            assert!(bytes > limit);
            assert_eq!(limit, 1024 * 1024);
        }
        other => panic!("a ConfigMap over 1 MiB must be refused: {other:?}"),
    }
}

#[test]
fn nothing_is_built_from_resources_that_do_not_compile() {
    let f = config_map_filter();
    let compiled = Compiled {
        snapshot: None,
        diagnostics: vec![],
        error: Some("broken".into()),
        took: std::time::Duration::ZERO,
        counts: portcullis_xds::Counts::default(),
        wire: None,
        plan: None,
    };
    assert_eq!(
        objects(&f, &compiled, &environment(), None),
        Err(Unbuildable::NotCompiled)
    );
}

fn cluster_names(map: &Value) -> Vec<String> {
    let cds = document(&map["data"], "cds.json");
    cds["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn with_destination(f: &GatewayFilter, host: &str) -> Compiled {
    let vs = object(
        "VirtualService",
        "edge",
        "a",
        json!({"hosts": ["a.example.com"], "gateways": ["gw"],
               "http": [{"route": [{"destination": {"host": host, "port": {"number": 80}}}]}]}),
    );
    compiled(Objects {
        istio: vec![gateway("edge", "gw", &["a.example.com"], None), vs],
        filters: vec![Arc::new(f.clone())],
        ..Objects::default()
    })
}

/// A cluster the previous version routes to stays while the clusters in use stay the same,
/// and goes at the next change of them; an unchanged configuration gives an unchanged object.
#[test]
fn clusters_the_previous_version_used_are_kept_for_the_swap() {
    let f = config_map_filter();
    let build = |host: &str, previous: Option<&Value>| {
        let mut built = objects(&f, &with_destination(&f, host), &environment(), previous)
            .unwrap_or_else(|e| panic!("{e}"));
        built.remove(0)
    };
    let first = build("one", None);
    assert_eq!(
        cluster_names(&first),
        ["outbound|80||one.edge.svc.cluster.local"]
    );

    let second = build("two", Some(&first));
    assert_eq!(
        cluster_names(&second),
        [
            "outbound|80||two.edge.svc.cluster.local",
            "outbound|80||one.edge.svc.cluster.local"
        ]
    );
    assert_eq!(
        second["metadata"]["annotations"][config_map::RETAINED_ANNOTATION],
        "outbound|80||one.edge.svc.cluster.local"
    );
    assert_eq!(
        build("two", Some(&second)),
        second,
        "stable while nothing changes"
    );

    let third = build("three", Some(&second));
    assert_eq!(
        cluster_names(&third),
        [
            "outbound|80||three.edge.svc.cluster.local",
            "outbound|80||two.edge.svc.cluster.local"
        ]
    );
}
