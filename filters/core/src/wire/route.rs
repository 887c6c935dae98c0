//! Wire types of one route: its runtime match conditions and its action.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::is_false;

/// One Envoy-style route: one `(http[i], match[j])` pair of a VirtualService (V-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Route {
    /// Route name, as Envoy's `%ROUTE_NAME%` would show it (V-26): `http[i].name` plus
    /// `.match[j].name` when set, else `<namespace>/<virtualservice>/<i>/<j>`.
    pub name: String,
    /// The VirtualService this route came from (`namespace/name`), for evidence.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub virtual_service: String,
    /// Runtime match conditions, ANDed. An empty match matches every request (V-7).
    #[serde(
        default,
        rename = "match",
        skip_serializing_if = "RouteMatch::is_empty"
    )]
    pub matcher: RouteMatch,
    /// What happens to a request that matched.
    pub action: Action,
    /// Route-level header operations (V-22).
    #[serde(default, skip_serializing_if = "HeaderOperationsPair::is_empty")]
    pub headers: HeaderOperationsPair,
    /// Fault injection (V-23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Traffic mirrors (V-24): fire-and-forget copies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
    /// Upstream timeout in milliseconds; `None` = Envoy's default (V-24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retry policy (V-24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// CORS policy (V-24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

/// Runtime match conditions of one `HTTPMatchRequest` (V-10 … V-15). All are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RouteMatch {
    /// Matched against `:path` without the query string (V-11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Matched against `:scheme` (V-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// Matched against `:method` (V-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Matched against the raw `:authority`, port and case preserved (V-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Header name (lowercase) → condition; all must hold (V-13).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, ValueMatch>,
    /// Header name (lowercase) → condition that must NOT hold (V-14).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, ValueMatch>,
    /// Query parameter name (case-sensitive) → condition (V-15).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, ValueMatch>,
    /// Makes `uri` exact and prefix matches case-insensitive; no effect on regex (V-11).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_uri_case: bool,
}

impl RouteMatch {
    /// True when the match has no condition at all (matches everything).
    pub fn is_empty(&self) -> bool {
        *self == RouteMatch::default()
    }
}

/// Istio's `StringMatch` (V-10): exact, prefix or a full-string RE2 regex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum StringMatch {
    /// Byte equality.
    Exact(String),
    /// Plain string prefix (not path-segment aware).
    Prefix(String),
    /// RE2 syntax, anchored at both ends (the whole value must match).
    Regex(String),
}

/// A header or query-parameter condition: a [`StringMatch`] or mere presence (`{}` in Istio).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ValueMatch {
    /// Byte equality.
    Exact(String),
    /// Plain string prefix.
    Prefix(String),
    /// RE2 syntax, anchored at both ends.
    Regex(String),
    /// The header or parameter is present, with any value (Istio `{}` or `regex: "*"`).
    Present(bool),
}

/// What a matched route does. Exactly one action per route (V-17).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Action {
    /// Forward upstream to one of the weighted destinations (V-18), with optional rewrite (V-21).
    Route(Forward),
    /// Answer with a redirect (V-19).
    Redirect(Redirect),
    /// Answer with a fixed status and body (V-20).
    DirectResponse(DirectResponse),
}

/// The forwarding action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Forward {
    /// Weighted destinations; weights need not sum to 100, zero weights never receive traffic.
    pub destinations: Vec<Destination>,
    /// Request rewrite applied before forwarding (V-21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
}

/// One weighted destination (V-18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Destination {
    /// Envoy cluster name in Istio's form `outbound|<port>|<subset>|<fqdn>`.
    pub cluster: String,
    /// Relative weight.
    pub weight: u32,
    /// Per-destination header operations, applied after the route's (V-22).
    #[serde(default, skip_serializing_if = "HeaderOperationsPair::is_empty")]
    pub headers: HeaderOperationsPair,
    /// The `:authority` of requests sent to this destination (its `headers.request.set` of
    /// `:authority` or `host`, V-22). Among several destinations it wins over the route's
    /// rewrite; a sole destination's applies only when the route has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// `HTTPRewrite` (V-21).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rewrite {
    /// Replaces the matched prefix (prefix match) or the whole path (exact, regex or no uri
    /// match, where the implicit match is prefix `/`); the query string is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// RE2 substitution over the path (all non-overlapping matches, `\1` references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_regex: Option<RegexRewrite>,
    /// New upstream `:authority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// `RegexRewrite`: pattern and substitution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RegexRewrite {
    /// RE2 pattern, searched (not anchored) in the path.
    pub pattern: String,
    /// Replacement with `\1`-style group references.
    pub substitution: String,
}

/// `HTTPRedirect` (V-19).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Redirect {
    /// Replaces the whole path; the query string is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Replaces the part of the path the route's `uri` condition matched, as a forward's
    /// `rewrite.uri` does (V-21); the rest of the path and the query are kept. Exclusive with
    /// `uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
    /// Replaces the host (the request's Host, port included, when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Explicit port in the Location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Port derivation when `port` is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive_port: Option<DerivePort>,
    /// Scheme of the Location (the request's scheme when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Status code: 301 (default), 302, 303, 307 or 308.
    #[serde(default = "default_redirect_code")]
    pub code: u16,
}

fn default_redirect_code() -> u16 {
    301
}

/// `HTTPRedirect.derivePort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DerivePort {
    /// No port in the Location.
    FromProtocolDefault,
    /// The listener port, omitted when it is the scheme's default (80/http, 443/https).
    FromRequestPort,
}

/// `HTTPDirectResponse` (V-20).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DirectResponse {
    /// Status code, 200–599.
    pub status: u16,
    /// Response body, when it is text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// Response body as standard base64 (with padding), when it is not UTF-8
    /// (`directResponse.body.bytes`); at most one of `body` and `bodyBase64` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// Request and response header operations (V-22).
// Istio's `Headers`: one [`HeaderOperations`] per direction. The schema keeps the name it was
// published under (`HeaderOps`); the JSON never names the type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "HeaderOps"))]
pub struct HeaderOperationsPair {
    /// Operations on the request forwarded upstream.
    #[serde(default, skip_serializing_if = "HeaderOperations::is_empty")]
    pub request: HeaderOperations,
    /// Operations on the response sent downstream.
    #[serde(default, skip_serializing_if = "HeaderOperations::is_empty")]
    pub response: HeaderOperations,
}

impl HeaderOperationsPair {
    /// True when no operation is configured.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// `Headers.HeaderOperations`, applied in Envoy's order: remove, then set, then add.
// One direction (the request forwarded upstream, or the response sent downstream); a route or
// destination holds one per direction in a [`HeaderOperationsPair`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeaderOperations {
    /// Overwrite (or create) these headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Append these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl HeaderOperations {
    /// True when no operation is configured.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// `HTTPFaultInjection` (V-23): delay and abort are drawn independently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fault {
    /// Delay before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Local answer instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// A fixed delay injected into a percentage of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FaultDelay {
    /// Delay in milliseconds.
    pub fixed_delay_ms: u64,
    /// Share of requests delayed, 0–100 (Istio: absent means 0).
    pub percentage: f64,
}

/// An abort injected into a percentage of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FaultAbort {
    /// HTTP status to answer with (200–599).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// gRPC status code to answer with (sent as `grpc-status` on a 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<u32>,
    /// Share of requests aborted, 0–100 (Istio: absent means 0).
    pub percentage: f64,
}

/// A traffic mirror.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Mirror {
    /// Cluster that receives the copy.
    pub cluster: String,
    /// Share of requests mirrored, 0–100 (default 100).
    pub percentage: f64,
}

/// `HTTPRetry`. The mesh default policy is Envoy's route's own; any other is expressed as the
/// request headers Envoy's router honours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Retries {
    /// Number of retries (`x-envoy-max-retries`); 0 disables retries.
    pub attempts: u32,
    /// Per-try timeout in milliseconds (`x-envoy-upstream-rq-per-try-timeout-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout_ms: Option<u64>,
    /// Retry conditions (`x-envoy-retry-on`), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
}

impl Retries {
    /// Istio's mesh default policy: what a forwarded route without `retries` gets (V-24).
    pub fn mesh_default() -> Self {
        Retries {
            attempts: crate::contract::MESH_DEFAULT_RETRY_ATTEMPTS,
            per_try_timeout_ms: None,
            retry_on: Some(crate::contract::MESH_DEFAULT_RETRY_ON.to_string()),
        }
    }

    /// Whether this is the mesh default policy, which Envoy's route applies by itself (the
    /// router then writes no retry headers: [`crate::contract::OWN_RETRIES_HEADER`]).
    pub fn is_mesh_default(&self) -> bool {
        self.attempts == crate::contract::MESH_DEFAULT_RETRY_ATTEMPTS
            && self.per_try_timeout_ms.is_none()
            && self.retry_on.as_deref() == Some(crate::contract::MESH_DEFAULT_RETRY_ON)
    }
}

/// `CorsPolicy` (V-24).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cors {
    /// Allowed origins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// `access-control-allow-methods`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// `access-control-allow-headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// `access-control-expose-headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// `access-control-max-age` in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_s: Option<u64>,
    /// `access-control-allow-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// Preflights from origins that do not match are forwarded upstream (Istio default) unless
    /// this is true (`unmatchedPreflights: IGNORE`), in which case they are answered locally
    /// without CORS headers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_unmatched_preflights: bool,
}
