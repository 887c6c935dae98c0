//! How rendered configuration reaches Envoy: inputs of rendering, never assumptions inside it.

use std::path::PathBuf;

use crate::ConfigDir;

/// Where Envoy's dynamic resources (listeners, clusters, filter configs, secrets) come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigDelivery {
    /// File-based xDS: one DiscoveryResponse file per resource type, reloaded on rename.
    Files(ConfigDir),
    /// One aggregated gRPC stream (ADS) to an xDS server.
    Ads(XdsServer),
}

/// The xDS server a bootstrap points Envoy at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdsServer {
    /// Its address (IP or hostname).
    pub address: String,
    /// Its gRPC port.
    pub port: u16,
}

/// Where a filter module's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WasmCode {
    /// A file on the gateway's own disk.
    Local(PathBuf),
    /// The module itself, inside the filter configuration: the xDS server delivers it over
    /// the ADS stream, so a gateway needs nothing but a bootstrap. Envoy loads it at once
    /// (unlike remote code, which Envoy 1.40 fails for every filter instance but the first
    /// while the fetch is in progress, and every listener or passthrough chain makes one).
    Inline(std::sync::Arc<[u8]>),
    /// Fetched over HTTP from a cluster of the bootstrap (the xDS server serves the modules);
    /// Envoy refuses code whose SHA-256 differs.
    Remote {
        /// The module's URL.
        url: String,
        /// The Envoy cluster that serves `url`.
        cluster: String,
        /// Hex SHA-256 of the module.
        sha256: String,
    },
}

/// The filter modules a plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmModules {
    /// The router (`portcullis_router.wasm`).
    pub router: WasmCode,
    /// The egress-audit filter; required only when the plan has egress listeners.
    pub egress_audit: Option<WasmCode>,
}

impl WasmModules {
    /// Both modules as local files (the egress-audit one optional).
    pub fn local(router: impl Into<PathBuf>, egress_audit: Option<PathBuf>) -> Self {
        WasmModules {
            router: WasmCode::Local(router.into()),
            egress_audit: egress_audit.map(WasmCode::Local),
        }
    }
}

/// How TLS certificates and keys reach Envoy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsDelivery {
    /// Inside the listener's filter chains.
    #[default]
    Inline,
    /// As SDS secrets delivered like the other resources, so private keys never sit inside
    /// listener configuration (and a key rotation does not touch the listener).
    Sds,
}
