//! From what the watches hold to what the xDS server compiles: a pure function of the
//! reflector stores' contents, independent of the order a store returns objects in (so equal
//! contents give equal inputs, hence equal content hashes, and nothing is pushed twice).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Resource, ResourceExt};
use portcullis_compile::compile::CompileOptions;
use portcullis_compile::diagnostics::Diagnostic;
use portcullis_compile::istio::Resources;
use portcullis_compile::load::load_json;
use portcullis_envoy::api::FailurePolicy as EnvoyFailurePolicy;
use portcullis_xds::{Inputs, WorkloadSettings};

use crate::crd::{AuditFailureMode, EgressDenyAnswer, FailurePolicy, GatewayFilter};

/// The Istio kinds the controller reads, at the storage version `networking.istio.io/v1`
/// (one served version: an object watched at two versions would arrive twice).
pub const ISTIO_KINDS: [&str; 4] = [
    "Gateway",
    "VirtualService",
    "ServiceEntry",
    "DestinationRule",
];

/// The API resource of an Istio kind.
pub fn istio_resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "ServiceEntry" => "serviceentries".to_string(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1", kind),
        &plural,
    )
}

/// Everything the watches hold, as the stores return it (in any order).
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Istio objects of every kind in [`ISTIO_KINDS`].
    pub istio: Vec<Arc<DynamicObject>>,
    /// The Secrets Gateways name.
    pub secrets: Vec<Arc<Secret>>,
    /// GatewayFilters.
    pub filters: Vec<Arc<GatewayFilter>>,
}

/// What [`inputs`] made of the objects.
#[derive(Clone, Debug)]
pub struct Built {
    /// What the xDS server compiles, per proxy.
    pub inputs: Inputs,
    /// Objects that could not be read at all (they are left out of every gateway).
    pub unreadable: Vec<Diagnostic>,
}

/// The xDS server's inputs from the watched objects.
pub fn inputs(objects: &Objects) -> Built {
    let mut istio: Vec<&DynamicObject> = objects.istio.iter().map(Arc::as_ref).collect();
    istio.sort_by_key(|o| sort_key(*o, o.types.as_ref().map_or("", |t| t.kind.as_str())));
    let mut secrets: Vec<&Secret> = objects.secrets.iter().map(Arc::as_ref).collect();
    secrets.sort_by_key(|s| sort_key(*s, "Secret"));

    let mut resources = Resources::default();
    let mut unreadable = Vec::new();
    for object in istio {
        let value = match serde_json::to_value(object) {
            Ok(value) => value,
            Err(e) => {
                unreadable.push(Diagnostic::error(
                    describe(object),
                    format!("cannot be read: {e}"),
                ));
                continue;
            }
        };
        let loaded = load_json(&value);
        resources.extend(loaded.resources);
        unreadable.extend(loaded.diagnostics);
    }
    for secret in secrets {
        let Ok(value) = serde_json::to_value(secret) else {
            continue;
        };
        let loaded = load_json(&with_type_meta(value, "v1", "Secret"));
        resources.extend(loaded.resources);
        unreadable.extend(loaded.diagnostics);
    }
    Built {
        inputs: Inputs::Resources {
            resources,
            options: CompileOptions::default(),
            workloads: workloads(&objects.filters),
            read: unreadable.clone(),
        },
        unreadable,
    }
}

/// Each GatewayFilter's settings, oldest first: when two select the same workload the older
/// one applies (as Istio orders conflicting resources), and the newer one is reported.
pub fn workloads(filters: &[Arc<GatewayFilter>]) -> Vec<WorkloadSettings> {
    ordered(filters).into_iter().map(settings).collect()
}

/// GatewayFilters oldest first (creation time, then namespace and name).
pub fn ordered(filters: &[Arc<GatewayFilter>]) -> Vec<&GatewayFilter> {
    let mut ordered: Vec<&GatewayFilter> = filters.iter().map(Arc::as_ref).collect();
    ordered.sort_by_key(|f| {
        (
            f.metadata.creation_timestamp.as_ref().map(|t| t.0),
            f.namespace().unwrap_or_default(),
            f.name_any(),
        )
    });
    ordered
}

/// The settings one GatewayFilter gives its workload.
pub fn settings(filter: &GatewayFilter) -> WorkloadSettings {
    let spec = &filter.spec;
    let mut audit = BTreeMap::new();
    if let Some(a) = &spec.audit {
        if let Some(sink) = &a.sink {
            audit.insert("portcullis.dev/audit-sink".to_string(), sink.clone());
        }
        if let Some(mode) = a.failure_mode {
            let mode = match mode {
                AuditFailureMode::Open => "open",
                AuditFailureMode::Closed => "closed",
            };
            audit.insert(
                "portcullis.dev/audit-failure-mode".to_string(),
                mode.to_string(),
            );
        }
        if let Some(query) = a.include_query {
            audit.insert(
                "portcullis.dev/audit-include-query".to_string(),
                query.to_string(),
            );
        }
        if !a.include_headers.is_empty() {
            audit.insert(
                "portcullis.dev/audit-include-headers".to_string(),
                a.include_headers.join(","),
            );
        }
        if !a.redact_headers.is_empty() {
            audit.insert(
                "portcullis.dev/audit-redact-headers".to_string(),
                a.redact_headers.join(","),
            );
        }
    }
    if let Some(answer) = spec.egress_deny_answer {
        let answer = match answer {
            EgressDenyAnswer::NotFound => "not-found",
            EgressDenyAnswer::RegistryOnly => "registry-only",
        };
        audit.insert(
            "portcullis.dev/egress-deny-answer".to_string(),
            answer.to_string(),
        );
    }
    WorkloadSettings {
        selector: spec.selector.match_labels.clone(),
        namespace: filter.namespace().unwrap_or_default(),
        audit,
        failure_policy: match spec.failure_policy {
            FailurePolicy::FailReload => EnvoyFailurePolicy::FailReload,
            FailurePolicy::FailClose => EnvoyFailurePolicy::FailClosed,
            FailurePolicy::FailOpen => EnvoyFailurePolicy::FailOpen,
        },
    }
}

/// The Secrets the Gateways name (`credentialName`), as `(namespace, name)`: Istio reads them
/// from the gateway workload's namespace, so they are looked up in every namespace that has a
/// GatewayFilter, and in the Gateway's own (where gateways usually run). Nothing else is read.
pub fn named_secrets(objects: &Objects) -> BTreeSet<(String, String)> {
    let namespaces: BTreeSet<String> = objects
        .filters
        .iter()
        .filter_map(|f| f.namespace())
        .collect();
    let mut names = BTreeSet::new();
    for object in &objects.istio {
        if object.types.as_ref().is_none_or(|t| t.kind != "Gateway") {
            continue;
        }
        let servers = object
            .data
            .pointer("/spec/servers")
            .and_then(serde_json::Value::as_array);
        for server in servers.into_iter().flatten() {
            if let Some(name) = server
                .pointer("/tls/credentialName")
                .and_then(serde_json::Value::as_str)
                .filter(|n| !n.is_empty())
            {
                names.insert((object.namespace().unwrap_or_default(), name.to_string()));
            }
        }
    }
    let mut secrets = BTreeSet::new();
    for (gateway_namespace, name) in names {
        for namespace in namespaces.iter().chain([&gateway_namespace]) {
            secrets.insert((namespace.clone(), name.clone()));
        }
    }
    secrets
}

/// Kind, namespace and name: a total order (names are unique per kind and namespace).
fn sort_key<K: Resource<DynamicType = D>, D>(object: &K, kind: &str) -> (String, String, String) {
    let meta = object.meta();
    (
        kind.to_string(),
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn describe(object: &DynamicObject) -> String {
    format!(
        "{} {}/{}",
        object.types.as_ref().map_or("object", |t| t.kind.as_str()),
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// k8s-openapi types serialise without `apiVersion` and `kind` when the watch did not fill them.
fn with_type_meta(
    mut value: serde_json::Value,
    api_version: &str,
    kind: &str,
) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| api_version.into());
        map.entry("kind").or_insert_with(|| kind.into());
    }
    value
}
