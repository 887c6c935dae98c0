//! Kubernetes Secret (TLS credentials, `credentialName`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ObjectMeta;
use crate::base64::Base64Error;
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

    /// The decoded value of `key`, from `stringData` or base64 `data`; `None` when the Secret
    /// has no such key.
    pub fn value(&self, key: &str) -> Option<Result<String, SecretValueError>> {
        if let Some(v) = self.string_data.get(key) {
            return Some(Ok(v.clone()));
        }
        let raw = self.data.get(key)?;
        Some(
            crate::base64::decode(raw)
                .map_err(SecretValueError::Base64)
                .and_then(|b| String::from_utf8(b).map_err(|_| SecretValueError::NotUtf8)),
        )
    }
}

/// Why a key of a Secret's `data` could not be read as text (TLS certificates and keys are PEM
/// text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretValueError {
    /// The value is not valid base64.
    #[error(transparent)]
    Base64(Base64Error),
    /// The decoded value is not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
}

impl SecretValueError {
    /// A bounded label for metrics (`base64`, `utf8`), e.g. for credentials an in-cluster
    /// operator could not load.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SecretValueError::Base64(_) => "base64",
            SecretValueError::NotUtf8 => "utf8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_string_data_then_base64_data() {
        let secret = Secret {
            data: BTreeMap::from([
                ("tls.crt".into(), "Y2VydA==".into()),
                ("tls.key".into(), "a2V5!".into()),
                ("bin".into(), "/w==".into()),
                ("ca.crt".into(), "ignored".into()),
            ]),
            string_data: BTreeMap::from([("ca.crt".into(), "ca".into())]),
            ..Secret::default()
        };
        assert_eq!(secret.value("tls.crt"), Some(Ok("cert".into())));
        assert_eq!(secret.value("ca.crt"), Some(Ok("ca".into())));
        assert_eq!(secret.value("missing"), None);
        let Some(Err(e)) = secret.value("tls.key") else {
            panic!("{:?}", secret.value("tls.key"))
        };
        assert_eq!(
            e,
            SecretValueError::Base64(Base64Error::InvalidCharacter {
                offset: 4,
                character: '!'
            })
        );
        assert_eq!(e.metric_label(), "base64");
        assert_eq!(
            e.to_string(),
            "invalid base64: unexpected character '!' at offset 4"
        );
        assert_eq!(secret.value("bin"), Some(Err(SecretValueError::NotUtf8)));
    }
}
