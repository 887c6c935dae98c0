//! Writing distributed objects: server-side apply, each object once per content.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use crate::reconcile::FIELD_MANAGER;
use sha2::{Digest, Sha256};

/// Writes distributed objects, each once per content: an object is written again only when
/// something in it changed (the configuration, or a setting such as a path or the failure
/// policy that the configuration hash does not cover).
#[derive(Debug, Default)]
pub struct Applier {
    applied: Mutex<BTreeMap<(String, String, String), String>>,
}

impl Applier {
    /// Applies each object not yet applied with this content; returns how many were written.
    pub async fn apply(
        &self,
        client: &kube::Client,
        objects: &[Value],
    ) -> Result<usize, kube::Error> {
        let mut written = 0;
        for object in objects {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let kind = text(&object["kind"]);
            let namespace = text(&object["metadata"]["namespace"]);
            let name = text(&object["metadata"]["name"]);
            let hash = hex::encode(Sha256::digest(object.to_string().as_bytes()));
            let key = (kind.clone(), namespace.clone(), name.clone());
            if self
                .applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                == Some(&hash)
            {
                continue;
            }
            let resource = resource(object["apiVersion"].as_str().unwrap_or_default(), &kind);
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &resource);
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(object),
            )
            .await?;
            self.applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, hash);
            written += 1;
        }
        Ok(written)
    }
}

/// The object `name` in `namespace` as the API has it, if it exists.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    (api_version, kind, name): &super::ObjectName,
) -> Result<Option<Value>, kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &resource(api_version, kind));
    Ok(api
        .get_opt(name)
        .await?
        .map(|object| serde_json::to_value(object).unwrap_or(Value::Null)))
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}
