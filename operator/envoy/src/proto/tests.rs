//! The protobuf encoding agrees with the JSON one where both can be read back.

use envoy_types::pb::envoy::config::listener::v3 as listener_pb;
use prost::Message;

use super::*;
use crate::api::{Address, Filter, FilterChain, Listener, TcpProxy, TcpUpstream};

/// A listener survives packing: name, address and the nested `Any` of its filter decode to
/// the values rendered.
#[test]
fn a_packed_listener_decodes_to_what_was_rendered() {
    let l = Listener {
        name: "tls.443".into(),
        address: Address::socket("127.0.0.1", 10443),
        filter_chains: vec![FilterChain {
            name: "chain".into(),
            filter_chain_match: None,
            transport_socket: None,
            filters: vec![Filter::typed(
                "envoy.filters.network.tcp_proxy",
                TypedConfig::TcpProxy(TcpProxy {
                    stat_prefix: "p".into(),
                    upstream: TcpUpstream::Cluster("outbound|443||api.example.org".into()),
                }),
            )],
        }],
        listener_filters: vec![],
        default_filter_chain: None,
    };
    let packed = any(&TypedConfig::Listener(Box::new(l)));
    assert_eq!(
        packed.type_url,
        "type.googleapis.com/envoy.config.listener.v3.Listener"
    );
    let decoded = listener_pb::Listener::decode(packed.value.as_slice()).unwrap();
    assert_eq!(decoded.name, "tls.443");
    let filter = &decoded.filter_chains[0].filters[0];
    let Some(listener_pb::filter::ConfigType::TypedConfig(inner)) = &filter.config_type else {
        panic!("no typed config: {filter:?}");
    };
    assert!(inner.type_url.ends_with("tcp_proxy.v3.TcpProxy"));
    let proxy =
        envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy::decode(
            inner.value.as_slice(),
        )
        .unwrap();
    assert_eq!(proxy.stat_prefix, "p");
}
