//! `envoy.config.core.v3`: addresses, data sources, config sources, extension configs.

use serde::Serialize;

use super::TypedConfig;

/// `core.v3.Address` (socket addresses only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The socket address.
    pub socket_address: SocketAddress,
}

impl Address {
    /// `address:port`.
    pub fn socket(address: impl Into<String>, port: u16) -> Self {
        Address {
            socket_address: SocketAddress {
                address: address.into(),
                port_value: port,
            },
        }
    }
}

/// `core.v3.SocketAddress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketAddress {
    /// IP address or hostname.
    pub address: String,
    /// Port.
    pub port_value: u16,
}

/// `core.v3.DataSource` (inline text or a file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DataSource {
    /// The data itself.
    #[serde(rename = "inline_string")]
    InlineString(String),
    /// A file Envoy reads.
    #[serde(rename = "filename")]
    Filename(String),
    /// Bytes (base64 in JSON).
    #[serde(rename = "inline_bytes", serialize_with = "base64_bytes")]
    InlineBytes(std::sync::Arc<[u8]>),
}

fn base64_bytes<S: serde::Serializer>(
    bytes: &std::sync::Arc<[u8]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `core.v3.ConfigSource`: where a dynamic resource comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigSource {
    /// The source.
    #[serde(flatten)]
    pub specifier: ConfigSourceSpecifier,
    /// Always `V3`.
    pub resource_api_version: ApiVersion,
}

impl ConfigSource {
    /// A file, reloaded when a file is renamed into `watched_directory`.
    pub fn path(path: impl Into<String>, watched_directory: impl Into<String>) -> Self {
        ConfigSource {
            specifier: ConfigSourceSpecifier::PathConfigSource(PathConfigSource {
                path: path.into(),
                watched_directory: WatchedDirectory {
                    path: watched_directory.into(),
                },
            }),
            resource_api_version: ApiVersion::V3,
        }
    }

    /// The bootstrap's aggregated discovery stream.
    pub fn ads() -> Self {
        ConfigSource {
            specifier: ConfigSourceSpecifier::Ads(AggregatedConfigSource {}),
            resource_api_version: ApiVersion::V3,
        }
    }
}

/// The `config_source_specifier` oneof of `ConfigSource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ConfigSourceSpecifier {
    /// `path_config_source`.
    #[serde(rename = "path_config_source")]
    PathConfigSource(PathConfigSource),
    /// `ads`.
    #[serde(rename = "ads")]
    Ads(AggregatedConfigSource),
}

/// `core.v3.PathConfigSource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathConfigSource {
    /// The file.
    pub path: String,
    /// The directory whose renames trigger a reload.
    pub watched_directory: WatchedDirectory,
}

/// `core.v3.WatchedDirectory`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchedDirectory {
    /// The directory.
    pub path: String,
}

/// `core.v3.AggregatedConfigSource` (no fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AggregatedConfigSource {}

/// `core.v3.ApiVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ApiVersion {
    /// The only version Envoy 1.40 serves.
    V3,
}

/// `core.v3.TypedExtensionConfig`: a named extension and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypedExtensionConfig {
    /// The extension's name.
    pub name: String,
    /// Its configuration.
    pub typed_config: TypedConfig,
}

/// `core.v3.ExtensionConfigSource`: an extension whose configuration comes from ECDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExtensionConfigSource {
    /// Where the configuration comes from.
    pub config_source: ConfigSource,
    /// The configuration types accepted.
    pub type_urls: Vec<String>,
}

/// `core.v3.Node`: the proxy's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Node id.
    pub id: String,
    /// Service cluster.
    pub cluster: String,
    /// Node metadata (`google.protobuf.Struct`), e.g. the gateway's labels and namespace.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `core.v3.HttpUri`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpUri {
    /// The URL.
    pub uri: String,
    /// The cluster that serves it.
    pub cluster: String,
    /// Request timeout.
    pub timeout: Duration,
}

/// `google.protobuf.Duration`, written as proto3 JSON writes it (`5s`, `0.250s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Whole seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Duration(std::time::Duration::from_secs(seconds))
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (seconds, nanos) = (self.0.as_secs(), self.0.subsec_nanos());
        let text = if nanos == 0 {
            format!("{seconds}s")
        } else {
            let fraction = format!("{nanos:09}");
            format!("{seconds}.{}s", fraction.trim_end_matches('0'))
        };
        serializer.serialize_str(&text)
    }
}

/// `core.v3.RemoteDataSource`: data fetched over HTTP and checked against its sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteDataSource {
    /// Where to fetch it.
    pub http_uri: HttpUri,
    /// Hex SHA-256 of the expected content; Envoy refuses anything else.
    pub sha256: String,
}

/// `core.v3.AsyncDataSource`: local or remote data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum AsyncDataSource {
    /// A local data source.
    #[serde(rename = "local")]
    Local(DataSource),
    /// A remote data source.
    #[serde(rename = "remote")]
    Remote(RemoteDataSource),
}

/// `core.v3.TransportSocket`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransportSocket {
    /// `envoy.transport_sockets.tls`.
    pub name: String,
    /// The TLS context.
    pub typed_config: TypedConfig,
}
