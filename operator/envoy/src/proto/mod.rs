//! The rendered values as Envoy's protobuf messages (`envoy-types`), for the xDS server.
//!
//! One conversion per [`api`](crate::api) type, field for field; each `Any` is packed with the
//! type URL of its [`TypedConfig`] variant. Behind the `proto` feature, so the renderer and
//! everything that only needs JSON never compiles Envoy's protos.

mod core;
mod listener;
mod tls;

use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration};
use prost::Message;

use crate::api::{self, TypedConfig};

pub use self::core::{cluster, listener, secret, typed_extension_config};

/// The resource packed for a DiscoveryResponse.
pub fn any(config: &TypedConfig) -> Any {
    let value = match config {
        TypedConfig::Listener(l) => listener::listener(l).encode_to_vec(),
        TypedConfig::Cluster(c) => core::cluster(c).encode_to_vec(),
        TypedConfig::TypedExtensionConfig(e) => core::typed_extension_config(e).encode_to_vec(),
        TypedConfig::Secret(s) => tls::secret(s).encode_to_vec(),
        TypedConfig::HttpConnectionManager(h) => listener::hcm(h).encode_to_vec(),
        TypedConfig::TcpProxy(t) => listener::tcp_proxy(t).encode_to_vec(),
        TypedConfig::TlsInspector(_)
        | TypedConfig::Router(_)
        | TypedConfig::PreviousHostsPredicate(_) => Vec::new(),
        TypedConfig::HttpWasm(w) | TypedConfig::NetworkWasm(w) => core::wasm(w).encode_to_vec(),
        TypedConfig::HeaderMutation(m) => listener::header_mutation(m).encode_to_vec(),
        TypedConfig::FileAccessLog(f) => listener::file_access_log(f).encode_to_vec(),
        TypedConfig::HttpProtocolOptions(_) => core::http2_protocol_options().encode_to_vec(),
        TypedConfig::DownstreamTlsContext(d) => tls::downstream(d).encode_to_vec(),
        TypedConfig::UpstreamTlsContext(u) => tls::upstream(u).encode_to_vec(),
        TypedConfig::StringValue(s) => envoy_types::pb::google::protobuf::StringValue {
            value: s.value.clone(),
        }
        .encode_to_vec(),
    };
    Any {
        type_url: config.type_url().to_string(),
        value,
    }
}

fn duration(d: api::Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.0.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.0.subsec_nanos()).unwrap_or(0),
    }
}

fn bool_value(value: bool) -> envoy_types::pb::google::protobuf::BoolValue {
    envoy_types::pb::google::protobuf::BoolValue { value }
}

#[cfg(test)]
mod tests;
