//! The xDS resource types Portcullis serves, and what one response of each type holds.

use portcullis_envoy::Snapshot;
use portcullis_envoy::api::{
    CLUSTER_TYPE, EXTENSION_CONFIG_TYPE, LISTENER_TYPE, SECRET_TYPE, TypedConfig,
};
use sha2::{Digest, Sha256};

/// One xDS resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// CDS.
    Cluster,
    /// LDS.
    Listener,
    /// ECDS: the wasm filters' configurations.
    ExtensionConfig,
    /// SDS: TLS certificates and CAs.
    Secret,
}

impl ResourceType {
    /// Every type, in the order a rollout delivers them.
    pub const ALL: [ResourceType; 4] = [
        ResourceType::Secret,
        ResourceType::Cluster,
        ResourceType::ExtensionConfig,
        ResourceType::Listener,
    ];

    /// The type URL.
    pub fn url(self) -> &'static str {
        match self {
            ResourceType::Cluster => CLUSTER_TYPE,
            ResourceType::Listener => LISTENER_TYPE,
            ResourceType::ExtensionConfig => EXTENSION_CONFIG_TYPE,
            ResourceType::Secret => SECRET_TYPE,
        }
    }

    /// The type of a type URL, if Portcullis serves it.
    pub fn from_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.url() == url)
    }

    /// A short name for logs and metrics (`cds`, `lds`, `ecds`, `sds`).
    pub fn short(self) -> &'static str {
        match self {
            ResourceType::Cluster => "cds",
            ResourceType::Listener => "lds",
            ResourceType::ExtensionConfig => "ecds",
            ResourceType::Secret => "sds",
        }
    }

    /// Listeners and clusters are requested as a whole (wildcard): a resource missing from a
    /// response is removed. The others are requested by name.
    pub fn is_wildcard(self) -> bool {
        matches!(self, ResourceType::Cluster | ResourceType::Listener)
    }
}

/// The resources of one response: for a wildcard type everything of that type in `snapshot`,
/// otherwise those of the `names` Envoy asked for that `snapshot` has.
pub fn resources_of(
    snapshot: &Snapshot,
    kind: ResourceType,
    names: &[String],
) -> Vec<(String, TypedConfig)> {
    let wanted = |name: &str| names.iter().any(|n| n == name);
    match kind {
        ResourceType::Cluster => snapshot
            .clusters
            .iter()
            .map(|c| (c.name.clone(), TypedConfig::Cluster(Box::new(c.clone()))))
            .collect(),
        ResourceType::Listener => snapshot
            .listeners
            .iter()
            .map(|l| (l.name.clone(), TypedConfig::Listener(Box::new(l.clone()))))
            .collect(),
        ResourceType::ExtensionConfig => snapshot
            .filter_configs
            .iter()
            .filter(|f| wanted(&f.name))
            .map(|f| {
                (
                    f.name.clone(),
                    TypedConfig::TypedExtensionConfig(Box::new(f.clone())),
                )
            })
            .collect(),
        ResourceType::Secret => snapshot
            .secrets
            .iter()
            .filter(|s| wanted(&s.name))
            .map(|s| (s.name.clone(), TypedConfig::Secret(Box::new(s.clone()))))
            .collect(),
    }
}

/// The version of a response: a digest of its resources, so equal content has an equal version.
pub fn version_of(resources: &[(String, TypedConfig)]) -> String {
    let configs: Vec<&TypedConfig> = resources.iter().map(|(_, c)| c).collect();
    let body = portcullis_envoy::api::to_json_value(&configs).to_string();
    hex::encode(&Sha256::digest(body.as_bytes())[..8])
}
