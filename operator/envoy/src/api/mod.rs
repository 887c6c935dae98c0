//! The subset of Envoy's v3 API that Portcullis renders, as typed values.
//!
//! Each type mirrors an Envoy protobuf message field for field (names as in the `.proto`,
//! which is also Envoy's JSON spelling), so a renderer cannot misspell a field or nest it in
//! the wrong place, and the values serialise to JSON that Envoy reads unchanged (file-based
//! xDS, `render` output, golden files). Only the fields Portcullis sets exist; a `None` or
//! empty field is omitted, which in proto3 means "Envoy's default".
//!
//! `google.protobuf.Any` is modelled by [`TypedConfig`]: one variant per message type that
//! Portcullis ever packs, serialised as Envoy's JSON form of an `Any` (`"@type"` beside the
//! message's own fields).

mod bootstrap;
mod cluster;
mod core;
mod hcm;
mod listener;
mod tls;
mod wasm;

pub use self::bootstrap::*;
pub use self::cluster::*;
pub use self::core::*;
pub use self::hcm::*;
pub use self::listener::*;
pub use self::tls::*;
pub use self::wasm::*;

use serde::Serialize;

/// A `google.protobuf.Any` holding one of the messages Portcullis renders.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "@type")]
pub enum TypedConfig {
    /// `envoy.config.listener.v3.Listener` (an LDS resource).
    #[serde(rename = "type.googleapis.com/envoy.config.listener.v3.Listener")]
    Listener(Box<Listener>),
    /// `envoy.config.cluster.v3.Cluster` (a CDS resource).
    #[serde(rename = "type.googleapis.com/envoy.config.cluster.v3.Cluster")]
    Cluster(Box<Cluster>),
    /// `envoy.config.core.v3.TypedExtensionConfig` (an ECDS resource).
    #[serde(rename = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig")]
    TypedExtensionConfig(Box<TypedExtensionConfig>),
    /// `envoy.extensions.transport_sockets.tls.v3.Secret` (an SDS resource).
    #[serde(rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret")]
    Secret(Box<Secret>),
    /// The HTTP connection manager network filter.
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    )]
    HttpConnectionManager(Box<HttpConnectionManager>),
    /// The TCP proxy network filter.
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")]
    TcpProxy(TcpProxy),
    /// The TLS inspector listener filter.
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
    )]
    TlsInspector(Empty),
    /// Envoy's terminal HTTP router filter.
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")]
    Router(Empty),
    /// The wasm HTTP filter.
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm")]
    HttpWasm(Box<Wasm>),
    /// The wasm network filter.
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm")]
    NetworkWasm(Box<Wasm>),
    /// The early header mutation extension of the connection manager.
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation"
    )]
    HeaderMutation(HeaderMutation),
    /// The retry host predicate that avoids hosts already tried.
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
    )]
    PreviousHostsPredicate(Empty),
    /// The file access logger.
    #[serde(rename = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog")]
    FileAccessLog(FileAccessLog),
    /// Upstream HTTP protocol options of a cluster.
    #[serde(rename = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    HttpProtocolOptions(HttpProtocolOptions),
    /// A downstream TLS context (a listener's filter chain).
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
    )]
    DownstreamTlsContext(Box<DownstreamTlsContext>),
    /// An upstream TLS context (a cluster).
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    )]
    UpstreamTlsContext(Box<UpstreamTlsContext>),
    /// `google.protobuf.StringValue`: the wasm plugin's configuration text.
    #[serde(rename = "type.googleapis.com/google.protobuf.StringValue")]
    StringValue(StringValue),
}

impl TypedConfig {
    /// The type URL this value is packed with.
    pub fn type_url(&self) -> &'static str {
        match self {
            TypedConfig::Listener(_) => LISTENER_TYPE,
            TypedConfig::Cluster(_) => CLUSTER_TYPE,
            TypedConfig::TypedExtensionConfig(_) => EXTENSION_CONFIG_TYPE,
            TypedConfig::Secret(_) => SECRET_TYPE,
            TypedConfig::HttpConnectionManager(_) => {
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
            }
            TypedConfig::TcpProxy(_) => {
                "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
            }
            TypedConfig::TlsInspector(_) => {
                "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
            }
            TypedConfig::Router(_) => {
                "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            }
            TypedConfig::HttpWasm(_) => HTTP_WASM_TYPE,
            TypedConfig::NetworkWasm(_) => NETWORK_WASM_TYPE,
            TypedConfig::HeaderMutation(_) => {
                "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation"
            }
            TypedConfig::PreviousHostsPredicate(_) => {
                "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            }
            TypedConfig::FileAccessLog(_) => {
                "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
            }
            TypedConfig::HttpProtocolOptions(_) => {
                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
            }
            TypedConfig::DownstreamTlsContext(_) => {
                "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
            }
            TypedConfig::UpstreamTlsContext(_) => {
                "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
            }
            TypedConfig::StringValue(_) => "type.googleapis.com/google.protobuf.StringValue",
        }
    }
}

/// Type URL of an LDS resource.
pub const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// Type URL of a CDS resource.
pub const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// Type URL of an ECDS resource.
pub const EXTENSION_CONFIG_TYPE: &str =
    "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
/// Type URL of an SDS resource.
pub const SECRET_TYPE: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/// Type URL of the wasm HTTP filter's configuration.
pub const HTTP_WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// Type URL of the wasm network filter's configuration.
pub const NETWORK_WASM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm";

/// A message without fields (`TlsInspector`, `Router`, an empty options message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// `google.protobuf.StringValue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StringValue {
    /// The string.
    pub value: String,
}

/// `envoy.service.discovery.v3.DiscoveryResponse`, as file-based xDS reads it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiscoveryResponse {
    /// The version of this set of resources.
    pub version_info: String,
    /// The resources, each packed as an `Any`.
    pub resources: Vec<TypedConfig>,
}

/// Serialises a value the way Portcullis prints and writes Envoy configuration: through
/// `serde_json::Value`, whose object keys are ordered, so the text is stable and diffs well.
pub fn to_json_value(value: &impl Serialize) -> serde_json::Value {
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
