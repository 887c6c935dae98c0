//! The HTTP connection manager, its route table, HTTP filters and access log.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Duration, ExtensionConfigSource, TypedConfig, TypedExtensionConfig};

/// `filters.network.http_connection_manager.v3.HttpConnectionManager`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpConnectionManager {
    /// Stats prefix.
    pub stat_prefix: String,
    /// HTTP/1.1, HTTP/2 or detected.
    pub codec_type: CodecType,
    /// Trust the connection's own address (the gateway is the edge), not `x-forwarded-for`.
    pub use_remote_address: bool,
    /// Proxies in front whose `x-forwarded-for` entries (and `x-forwarded-proto`) are trusted.
    pub xff_num_trusted_hops: u32,
    /// Normalise paths per RFC 3986 before filters and routing.
    pub normalize_path: bool,
    /// Merge adjacent slashes in the path.
    pub merge_slashes: bool,
    /// What to do with `%2F`, `%5C` in the path.
    pub path_with_escaped_slashes_action: PathWithEscapedSlashesAction,
    /// Idle time allowed per stream; zero disables the limit.
    pub stream_idle_timeout: Duration,
    /// `x-forwarded-client-cert` handling.
    pub forward_client_cert_details: ForwardClientCertDetails,
    /// Which client certificate fields go into `x-forwarded-client-cert` (SANITIZE_SET,
    /// APPEND_FORWARD).
    pub set_current_client_cert_details: SetCurrentClientCertDetails,
    /// The `server` response header's value.
    pub server_name: String,
    /// Upgrades allowed (websocket).
    pub upgrade_configs: Vec<UpgradeConfig>,
    /// Header mutations applied before any filter runs.
    pub early_header_mutation_extensions: Vec<TypedExtensionConfig>,
    /// The route table, inline.
    pub route_config: RouteConfiguration,
    /// HTTP filters, in order; the last is Envoy's router.
    pub http_filters: Vec<HttpFilter>,
    /// Access logs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_log: Vec<AccessLog>,
}

/// `HttpConnectionManager.CodecType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CodecType {
    /// Detect HTTP/1.1 or HTTP/2 per connection.
    #[serde(rename = "AUTO")]
    Auto,
}

/// `HttpConnectionManager.PathWithEscapedSlashesAction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PathWithEscapedSlashesAction {
    /// Forward `%2F`, `%5C` as received.
    #[serde(rename = "KEEP_UNCHANGED")]
    KeepUnchanged,
}

/// `HttpConnectionManager.ForwardClientCertDetails`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ForwardClientCertDetails {
    /// Drop a client-sent header; on an mTLS connection, set it from the client certificate.
    #[serde(rename = "SANITIZE_SET")]
    SanitizeSet,
}

/// `HttpConnectionManager.SetCurrentClientCertDetails`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SetCurrentClientCertDetails {
    /// The subject.
    pub subject: bool,
    /// The whole certificate, URL-encoded PEM.
    pub cert: bool,
    /// The URI SANs.
    pub uri: bool,
    /// The DNS SANs.
    pub dns: bool,
}

/// `HttpConnectionManager.UpgradeConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpgradeConfig {
    /// e.g. `websocket`.
    pub upgrade_type: String,
}

/// `HttpFilter`: a named HTTP filter, configured inline or by ECDS.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpFilter {
    /// The filter's name (also its ECDS resource name).
    pub name: String,
    /// Its configuration.
    #[serde(flatten)]
    pub config: FilterConfig,
}

/// The `config_type` oneof of `HttpFilter` and of a listener's network `Filter`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FilterConfig {
    /// Inline configuration.
    #[serde(rename = "typed_config")]
    Typed(TypedConfig),
    /// Configuration delivered by ECDS. Without a default config the listener warms until it
    /// arrives, so no request ever runs without the filter.
    #[serde(rename = "config_discovery")]
    Discovery(ExtensionConfigSource),
}

/// `route.v3.RouteConfiguration`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteConfiguration {
    /// Name.
    pub name: String,
    /// Virtual hosts.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// `route.v3.VirtualHost`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VirtualHost {
    /// Name.
    pub name: String,
    /// Domains.
    pub domains: Vec<String>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
}

/// `route.v3.Route`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    /// Which requests take it.
    #[serde(rename = "match")]
    pub route_match: RouteMatch,
    /// Where they go.
    pub route: RouteAction,
    /// Request headers removed before forwarding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_remove: Vec<String>,
}

/// `route.v3.RouteMatch` (a path prefix, and headers that must be present).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteMatch {
    /// Path prefix.
    pub prefix: String,
    /// Headers the request must carry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderPresent>,
}

/// `route.v3.HeaderMatcher` with `present_match: true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderPresent {
    /// The header's name.
    pub name: String,
    /// Always true: the header is present, whatever its value.
    pub present_match: bool,
}

/// `route.v3.RouteAction` (cluster from a header).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteAction {
    /// The request header naming the cluster.
    pub cluster_header: String,
    /// Upstream timeout; zero disables Envoy's default.
    pub timeout: Duration,
    /// Retries; none means only what the request's `x-envoy-*` retry headers ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// `route.v3.RetryPolicy`, the fields Istio's mesh default sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Comma-separated retry conditions.
    pub retry_on: String,
    /// How many retries.
    pub num_retries: u32,
    /// Predicates that reject a host for a retry (Istio: previous hosts).
    pub retry_host_predicate: Vec<RetryHostPredicate>,
    /// How many times host selection is retried when a predicate rejects a host.
    pub host_selection_retry_max_attempts: i64,
}

/// `route.v3.RetryPolicy.RetryHostPredicate`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetryHostPredicate {
    /// The extension's name.
    pub name: String,
    /// Its (empty) configuration.
    pub typed_config: TypedConfig,
}

/// `http.early_header_mutation.header_mutation.v3.HeaderMutation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderMutation {
    /// Mutations, in order.
    pub mutations: Vec<HeaderMutationOp>,
}

/// `config.common.mutation_rules.v3.HeaderMutation` (removal only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderMutationOp {
    /// The header removed.
    pub remove: String,
}

/// `config.accesslog.v3.AccessLog`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessLog {
    /// The logger's name.
    pub name: String,
    /// Its configuration.
    pub typed_config: TypedConfig,
}

/// `access_loggers.file.v3.FileAccessLog`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileAccessLog {
    /// The file.
    pub path: String,
    /// One JSON object per request.
    pub log_format: LogFormat,
}

/// `core.v3.SubstitutionFormatString` (JSON only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogFormat {
    /// Field name → command operator.
    pub json_format: BTreeMap<String, String>,
}
