//! `networking.istio.io` Gateway.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Object;

/// An Istio Gateway.
pub type Gateway = Object<GatewaySpec>;

/// `Gateway.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// Workload labels (G-1); `None` selects every gateway workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// Servers (G-3).
    #[serde(default)]
    pub servers: Vec<GatewayServer>,
}

/// `Gateway.spec.servers[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayServer {
    /// Port.
    #[serde(default)]
    pub port: ServerPort,
    /// `[namespace/]dnsName` entries (G-5).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
    /// Bind address (G-4); not supported in local mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Optional server name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `Server.port`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerPort {
    /// Port number.
    #[serde(default)]
    pub number: u32,
    /// Port name (unique within the Gateway).
    #[serde(default)]
    pub name: String,
    /// `HTTP|HTTPS|GRPC|GRPC-WEB|HTTP2|MONGO|TCP|TLS`.
    #[serde(default)]
    pub protocol: String,
    /// Deprecated target port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// `Server.tls`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// Plain-text requests get a 301 to https (G-7).
    #[serde(default)]
    pub https_redirect: bool,
    /// `PASSTHROUGH` (default) | `SIMPLE` | `MUTUAL` | `OPTIONAL_MUTUAL` | `ISTIO_MUTUAL` |
    /// `AUTO_PASSTHROUGH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Name of the TLS Secret in the gateway workload's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Path of a PEM certificate chain on the gateway's disk (when there is no `credentialName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Path of the PEM private key on the gateway's disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Path of the PEM client CA bundle on the gateway's disk (mutual modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// Minimum TLS version (`TLS_AUTO`, `TLSV1_0` … `TLSV1_3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<String>,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_protocol_version: Option<String>,
    /// Cipher suites offered (TLS 1.2 and below).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// Names a client certificate must carry (mutual modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Base64 SHA-256 hashes of accepted client public keys (mutual modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Hex SHA-256 hashes of accepted client certificates (mutual modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
}
