//! A rendered configuration: every dynamic resource Envoy needs for one compiled plan.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::ConfigDir;

use crate::api::{Cluster, DiscoveryResponse, Listener, Secret, TypedConfig, TypedExtensionConfig};

/// Every dynamic resource of one configuration, by xDS type, in a deterministic order.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The configuration's identity (the compiler's content hash).
    pub version: String,
    /// LDS resources.
    pub listeners: Vec<Listener>,
    /// CDS resources.
    pub clusters: Vec<Cluster>,
    /// ECDS resources: the wasm HTTP filters' configurations, by filter name.
    pub filter_configs: Vec<TypedExtensionConfig>,
    /// SDS resources (empty when TLS material is inline).
    pub secrets: Vec<Secret>,
}

impl Snapshot {
    /// The filter configuration named `name`.
    pub fn filter_config(&self, name: &str) -> Option<&TypedExtensionConfig> {
        self.filter_configs.iter().find(|f| f.name == name)
    }

    /// The secret named `name`.
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.name == name)
    }

    /// The LDS document.
    pub fn listeners_response(&self) -> DiscoveryResponse {
        listeners_response(&self.listeners)
    }

    /// The CDS document.
    pub fn clusters_response(&self) -> DiscoveryResponse {
        clusters_response(&self.clusters)
    }

    /// Every document of file-based xDS, at its path in `dir`: LDS, CDS, one ECDS document
    /// per filter configuration and one SDS document per secret (what a snapshot rendered
    /// for `ConfigDelivery::Files(dir)` reads).
    pub fn files(&self, dir: &ConfigDir) -> Vec<(PathBuf, DiscoveryResponse)> {
        let mut files = vec![
            (dir.listeners_file(), self.listeners_response()),
            (dir.clusters_file(), self.clusters_response()),
        ];
        files.extend(self.filter_configs.iter().map(|config| {
            (
                dir.filter_config_file(&config.name),
                filter_config_response(&self.version, config),
            )
        }));
        files.extend(
            self.secrets
                .iter()
                .map(|secret| (dir.secret_file(&secret.name), secret_response(secret))),
        );
        files
    }
}

/// An LDS document; its version is a digest of its resources, so an unchanged document keeps
/// its version (Envoy logs the version; equal versions make diffs obvious).
pub fn listeners_response(listeners: &[Listener]) -> DiscoveryResponse {
    digest_versioned(
        listeners
            .iter()
            .map(|l| TypedConfig::Listener(Box::new(l.clone())))
            .collect(),
    )
}

/// A CDS document, versioned like [`listeners_response`].
pub fn clusters_response(clusters: &[Cluster]) -> DiscoveryResponse {
    digest_versioned(
        clusters
            .iter()
            .map(|c| TypedConfig::Cluster(Box::new(c.clone())))
            .collect(),
    )
}

/// The ECDS document of one filter configuration, versioned by the configuration's identity.
pub fn filter_config_response(version: &str, config: &TypedExtensionConfig) -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: version.into(),
        resources: vec![TypedConfig::TypedExtensionConfig(Box::new(config.clone()))],
    }
}

/// The SDS document of one secret, versioned like [`listeners_response`].
pub fn secret_response(secret: &Secret) -> DiscoveryResponse {
    digest_versioned(vec![TypedConfig::Secret(Box::new(secret.clone()))])
}

fn digest_versioned(resources: Vec<TypedConfig>) -> DiscoveryResponse {
    let body = crate::api::to_json_value(&resources);
    let digest = Sha256::digest(body.to_string().as_bytes());
    DiscoveryResponse {
        version_info: hex::encode(&digest[..6]),
        resources,
    }
}

impl Snapshot {
    /// The ECDS and SDS names the listeners use: what Envoy subscribes to once it has them.
    pub fn referenced_names(&self) -> (Vec<String>, Vec<String>) {
        use crate::api::{FilterConfig, TypedConfig};
        let (mut filters, mut secrets) = (Vec::new(), Vec::new());
        let chains = self
            .listeners
            .iter()
            .flat_map(|l| l.filter_chains.iter().chain(&l.default_filter_chain));
        for chain in chains {
            if let Some(socket) = &chain.transport_socket
                && let TypedConfig::DownstreamTlsContext(tls) = &socket.typed_config
            {
                let common = &tls.common_tls_context;
                secrets.extend(
                    common
                        .tls_certificate_sds_secret_configs
                        .iter()
                        .map(|s| s.name.clone()),
                );
                secrets.extend(
                    common
                        .validation_context_sds_secret_config
                        .iter()
                        .map(|s| s.name.clone()),
                );
            }
            for filter in &chain.filters {
                match &filter.config {
                    FilterConfig::Discovery(_) => filters.push(filter.name.clone()),
                    FilterConfig::Typed(TypedConfig::HttpConnectionManager(hcm)) => {
                        filters.extend(
                            hcm.http_filters
                                .iter()
                                .filter(|f| matches!(f.config, FilterConfig::Discovery(_)))
                                .map(|f| f.name.clone()),
                        );
                    }
                    FilterConfig::Typed(_) => {}
                }
            }
        }
        for names in [&mut filters, &mut secrets] {
            names.sort();
            names.dedup();
        }
        (filters, secrets)
    }
}
