//! Kubernetes Secret (TLS credentials, `credentialName`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ObjectMeta;
use crate::diagnostics::FieldLocations;

/// A Kubernetes Secret, as `kubectl get secret -o yaml` prints it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    pub api_version: String,
    /// `Secret`.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `kubernetes.io/tls` (or `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Base64 values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values (take precedence over `data`, as the API server merges them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// File the object was read from.
    #[serde(skip)]
    pub file: Option<String>,
    /// Where its fields are in that file, for diagnostics.
    #[serde(skip)]
    pub locations: FieldLocations,
}

impl Secret {
    /// `Secret namespace/name`.
    pub fn reference(&self) -> String {
        format!(
            "Secret {}/{}",
            self.metadata.namespace(),
            self.metadata.name
        )
    }

    /// The decoded value of `key`, from `stringData` or base64 `data`.
    pub fn value(&self, key: &str) -> Option<Result<String, String>> {
        if let Some(v) = self.string_data.get(key) {
            return Some(Ok(v.clone()));
        }
        let raw = self.data.get(key)?;
        Some(
            crate::base64::decode(raw)
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string())),
        )
    }
}
