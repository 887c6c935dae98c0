//! The Kubernetes envelope shared by every resource.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diagnostics::{FieldLocations, Location};

/// A namespaced Kubernetes object with a `spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The resource body.
    #[serde(default)]
    pub spec: S,
    /// File the object was read from (local mode), for diagnostics.
    #[serde(skip)]
    pub file: Option<String>,
    /// Where its fields are in that file (empty when not read from YAML), for diagnostics.
    #[serde(skip)]
    pub locations: FieldLocations,
}

impl<S> Object<S> {
    /// The namespace, `default` when unset (as `kubectl apply` would do).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace()
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// `Kind namespace/name`, the resource reference used in diagnostics.
    pub fn reference(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace(), self.name())
    }

    /// The location of `field` (a path like `spec.http[0].route`), else of the nearest
    /// enclosing field, else of the object; `None` when not read from YAML.
    pub fn locate(&self, field: &str) -> Option<Location> {
        self.locations.resolve(field)
    }

    /// Istio's config order (G-2, V-8): creation time, then name, then namespace. Objects
    /// without a creation time (local files) sort first, then by name and namespace.
    pub fn istio_order_key(&self) -> (&str, &str, &str) {
        (
            self.metadata.creation_timestamp.as_deref().unwrap_or(""),
            self.name(),
            self.namespace(),
        )
    }
}

/// The subset of Kubernetes `ObjectMeta` the compiler reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace; `default` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (Portcullis settings use the `portcullis.dev/` prefix).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 creation time; orders Gateways and VirtualServices like istiod does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Every other metadata field (uid, resourceVersion, managedFields, …): kept, never
    /// reported, because the API server adds them.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl ObjectMeta {
    /// The namespace, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}
