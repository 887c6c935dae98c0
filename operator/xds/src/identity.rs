//! Who a connecting proxy is: its node id, and the gateway workload its node metadata names.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, value::Kind};
use portcullis_compile::compile::GatewayIdentity;

/// Node metadata key holding the gateway workload's labels (a struct of strings), as Istio's
/// proxies send them.
pub const LABELS_KEY: &str = "LABELS";
/// Node metadata key holding the gateway workload's namespace.
pub const NAMESPACE_KEY: &str = "NAMESPACE";

/// A connected proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyIdentity {
    /// `node.id`.
    pub node_id: String,
    /// The gateway workload it belongs to: which Gateways select it (G-1) and where
    /// `exportTo` and `credentialName` are resolved.
    pub gateway: GatewayIdentity,
}

/// Why a node cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The first request of the stream carried no node.
    #[error("the first request carries no node")]
    NoNode,
    /// `node.id` is empty.
    #[error("node.id is empty")]
    EmptyId,
    /// A metadata field has the wrong shape.
    #[error("node metadata {key} must be {expected}")]
    Metadata {
        /// The key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

impl ProxyIdentity {
    /// Reads the identity from the node of a stream's first request. Missing labels mean a
    /// workload without labels (no selector-bearing Gateway applies); a missing namespace is
    /// `istio-system`, where Istio runs its gateways.
    pub fn from_node(node: Option<&Node>) -> Result<Self, IdentityError> {
        let node = node.ok_or(IdentityError::NoNode)?;
        if node.id.is_empty() {
            return Err(IdentityError::EmptyId);
        }
        let metadata = node.metadata.as_ref();
        let field = |key: &str| {
            metadata
                .and_then(|m| m.fields.get(key))
                .and_then(|v| v.kind.as_ref())
        };
        let labels = match field(LABELS_KEY) {
            None => BTreeMap::new(),
            Some(Kind::StructValue(s)) => string_map(s).ok_or(IdentityError::Metadata {
                key: LABELS_KEY,
                expected: "a map of strings",
            })?,
            Some(_) => {
                return Err(IdentityError::Metadata {
                    key: LABELS_KEY,
                    expected: "a map of strings",
                });
            }
        };
        let namespace = match field(NAMESPACE_KEY) {
            None => "istio-system".to_string(),
            Some(Kind::StringValue(ns)) if !ns.is_empty() => ns.clone(),
            Some(_) => {
                return Err(IdentityError::Metadata {
                    key: NAMESPACE_KEY,
                    expected: "a non-empty string",
                });
            }
        };
        Ok(ProxyIdentity {
            node_id: node.id.clone(),
            gateway: GatewayIdentity { labels, namespace },
        })
    }
}

fn string_map(s: &Struct) -> Option<BTreeMap<String, String>> {
    s.fields
        .iter()
        .map(|(k, v)| match &v.kind {
            Some(Kind::StringValue(text)) => Some((k.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::google::protobuf::Value;

    use super::*;

    fn text(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    fn node(metadata: Vec<(&str, Value)>) -> Node {
        Node {
            id: "gw-1".into(),
            metadata: Some(Struct {
                fields: metadata
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            }),
            ..Default::default()
        }
    }

    /// Labels and namespace come from the node metadata, as Istio's proxies send them.
    #[test]
    fn reads_labels_and_namespace() {
        let labels = Value {
            kind: Some(Kind::StructValue(Struct {
                fields: [("istio".to_string(), text("egressgateway"))].into(),
            })),
        };
        let id = ProxyIdentity::from_node(Some(&node(vec![
            (LABELS_KEY, labels),
            (NAMESPACE_KEY, text("edge")),
        ])))
        .unwrap();
        assert_eq!(id.node_id, "gw-1");
        assert_eq!(id.gateway.namespace, "edge");
        assert!(id.gateway.is_egress());
    }

    /// No metadata: no labels, Istio's gateway namespace.
    #[test]
    fn defaults_without_metadata() {
        let id = ProxyIdentity::from_node(Some(&node(vec![]))).unwrap();
        assert!(id.gateway.labels.is_empty());
        assert_eq!(id.gateway.namespace, "istio-system");
    }

    /// Malformed identities are refused with a reason.
    #[test]
    fn refuses_malformed_nodes() {
        assert_eq!(ProxyIdentity::from_node(None), Err(IdentityError::NoNode));
        let mut n = node(vec![]);
        n.id.clear();
        assert_eq!(
            ProxyIdentity::from_node(Some(&n)),
            Err(IdentityError::EmptyId)
        );
        let bad = node(vec![(LABELS_KEY, text("istio=ingressgateway"))]);
        assert!(matches!(
            ProxyIdentity::from_node(Some(&bad)),
            Err(IdentityError::Metadata {
                key: LABELS_KEY,
                ..
            })
        ));
    }
}
