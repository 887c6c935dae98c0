//! A proxy's stream, request by request.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_envoy::Snapshot;
use portcullis_envoy::api::{
    Address, Cluster, ClusterLoadAssignment, ConfigSource, DiscoveryType, Duration,
    ExtensionConfigSource, Filter, FilterChain, FilterConfig, Listener, StringValue, TypedConfig,
    TypedExtensionConfig,
};

use super::*;

const ROUTER: &str = "portcullis.router";

fn cluster(name: &str) -> Cluster {
    Cluster {
        name: name.into(),
        discovery_type: DiscoveryType::Static,
        connect_timeout: Duration::from_secs(1),
        lb_policy: None,
        load_assignment: ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![],
        },
        dns_lookup_family: None,
        typed_extension_protocol_options: BTreeMap::new(),
        transport_socket: None,
    }
}

/// A listener whose one chain uses the router's filter config by ECDS.
fn listener(name: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        address: Address::socket("127.0.0.1", port),
        filter_chains: vec![FilterChain {
            name: String::new(),
            filter_chain_match: None,
            transport_socket: None,
            filters: vec![Filter {
                name: ROUTER.into(),
                config: FilterConfig::Discovery(ExtensionConfigSource {
                    config_source: ConfigSource::ads(),
                    type_urls: vec![],
                }),
            }],
        }],
        listener_filters: vec![],
        default_filter_chain: None,
    }
}

fn router(wire: &str) -> TypedExtensionConfig {
    TypedExtensionConfig {
        name: ROUTER.into(),
        typed_config: TypedConfig::StringValue(StringValue { value: wire.into() }),
    }
}

/// A configuration routing to `cluster` on `port`.
fn config(version: &str, cluster_name: &str, port: u16) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        version: version.into(),
        listeners: vec![listener("http.80", port)],
        clusters: vec![cluster(cluster_name)],
        filter_configs: vec![router(&format!("to {cluster_name}"))],
        secrets: vec![],
    })
}

fn request(kind: ResourceType, names: &[&str], nonce: &str) -> Request {
    Request {
        type_url: kind.url().into(),
        version_info: String::new(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        response_nonce: nonce.into(),
        error_detail: None,
    }
}

fn nack(kind: ResourceType, names: &[&str], nonce: &str, detail: &str) -> Request {
    Request {
        error_detail: Some(detail.into()),
        ..request(kind, names, nonce)
    }
}

fn names_of(kind: ResourceType) -> Vec<&'static str> {
    if kind == ResourceType::ExtensionConfig {
        vec![ROUTER]
    } else {
        vec![]
    }
}

/// Envoy's side of a connection: subscribes like Envoy (clusters, then listeners, then the
/// filter configs the listeners name), and acknowledges every response.
fn connect(session: &mut Session) -> Vec<Event> {
    let mut events = Vec::new();
    for kind in [
        ResourceType::Cluster,
        ResourceType::Listener,
        ResourceType::ExtensionConfig,
    ] {
        let out = session.on_request(&request(kind, &names_of(kind), ""));
        events.extend(out.events);
        for r in out.responses {
            let out = session.on_request(&request(r.kind, &names_of(r.kind), &r.nonce));
            events.extend(out.events);
        }
    }
    events
}

/// Acknowledges each response as it comes, returning the kinds in the order they were sent.
fn ack_all(session: &mut Session, mut out: Output) -> (Vec<ResourceType>, Vec<Event>) {
    let (mut kinds, mut events) = (Vec::new(), Vec::new());
    loop {
        events.append(&mut out.events);
        let Some(r) = out.responses.first().cloned() else {
            return (kinds, events);
        };
        assert_eq!(
            out.responses.len(),
            1,
            "one step at a time: {:?}",
            out.responses
        );
        kinds.push(r.kind);
        out = session.on_request(&request(r.kind, &names_of(r.kind), &r.nonce));
    }
}

fn serving(version: &str) -> Event {
    Event::Serving {
        version: version.into(),
    }
}

/// A first connection gets the whole configuration, type by type as Envoy asks, and serves it
/// once every type it needs is acknowledged.
#[test]
fn first_connection_serves_once_everything_is_acknowledged() {
    let mut s = Session::new(config("v1", "a", 80));
    let events = connect(&mut s);
    assert_eq!(events.last(), Some(&serving("v1")), "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Serving { .. }))
            .count(),
        1,
        "serving only once everything is in: {events:?}"
    );
    assert_eq!(s.serving(), Some("v1"));
}

/// Acknowledged clusters and listeners without the filter config they use are not yet a
/// configuration being served.
#[test]
fn listeners_without_their_filter_config_are_not_serving() {
    let mut s = Session::new(config("v1", "a", 80));
    for kind in [ResourceType::Cluster, ResourceType::Listener] {
        let out = s.on_request(&request(kind, &[], ""));
        let r = &out.responses[0];
        let out = s.on_request(&request(kind, &[], &r.nonce));
        assert!(
            out.events
                .iter()
                .all(|e| !matches!(e, Event::Serving { .. }))
        );
    }
    assert_eq!(s.serving(), None);
}

/// An update goes out one step at a time in make-before-break order, each after the ACK of
/// the previous one.
#[test]
fn an_update_is_delivered_step_by_step() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let out = s.on_target(config("v2", "b", 80));
    let (kinds, events) = ack_all(&mut s, out);
    assert_eq!(
        kinds,
        [
            ResourceType::Cluster,         // a + b
            ResourceType::ExtensionConfig, // route to b
            ResourceType::Cluster,         // b only
        ]
    );
    assert_eq!(events.last(), Some(&serving("v2")));
    assert_eq!(s.serving(), Some("v2"));
}

/// The first step's response carries the union of old and new clusters.
#[test]
fn new_clusters_arrive_before_old_ones_leave() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let out = s.on_target(config("v2", "b", 80));
    let names: Vec<&str> = out.responses[0]
        .resources
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["b", "a"]);
}

/// A NACK stops the rollout and the steps already taken are undone, in reverse order: the
/// proxy serves its previous configuration as a whole.
#[test]
fn a_nack_rolls_the_proxy_back() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let out = s.on_target(config("v2", "b", 81));
    // Clusters (a + b): accepted.
    let clusters = out.responses[0].clone();
    let out = s.on_request(&request(ResourceType::Cluster, &[], &clusters.nonce));
    // Filter config to b: accepted.
    let filter = out.responses[0].clone();
    assert_eq!(filter.kind, ResourceType::ExtensionConfig);
    let out = s.on_request(&request(filter.kind, &[ROUTER], &filter.nonce));
    // Listeners on 81: refused.
    let listeners = out.responses[0].clone();
    assert_eq!(listeners.kind, ResourceType::Listener);
    let out = s.on_request(&nack(listeners.kind, &[], &listeners.nonce, "cannot bind"));
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::Nacked { detail, config_version, resource, .. }
            if detail == "cannot bind" && config_version == "v2" && resource == "listeners"
    )));
    // Undo: listeners back, then the filter config, then the clusters.
    let (kinds, events) = ack_all(&mut s, out);
    assert_eq!(
        kinds,
        [
            ResourceType::Listener,
            ResourceType::ExtensionConfig,
            ResourceType::Cluster
        ]
    );
    assert_eq!(
        events.last(),
        Some(&Event::RolledBack {
            refused: "v2".into(),
            serving: "v1".into()
        })
    );
    assert_eq!(s.serving(), Some("v1"));
    // The refused configuration is not retried...
    assert!(s.on_target(config("v2", "b", 81)).responses.is_empty());
    // ...but a newer one is.
    assert!(!s.on_target(config("v3", "c", 80)).responses.is_empty());
}

/// What Envoy asks for during a rollout is answered from the view, without disturbing the
/// step awaiting its ACK.
#[test]
fn requests_during_a_rollout_are_answered() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let out = s.on_target(config("v2", "b", 80));
    let clusters = out.responses[0].clone();
    // Envoy re-subscribes to listeners meanwhile (same nonce as its last listener answer is
    // gone: a new stream-level request with no nonce).
    let out = s.on_request(&request(ResourceType::Listener, &[], ""));
    assert_eq!(out.responses.len(), 1);
    assert_eq!(out.responses[0].kind, ResourceType::Listener);
    // The clusters step still advances on its ACK.
    let out = s.on_request(&request(ResourceType::Cluster, &[], &clusters.nonce));
    assert_eq!(out.responses[0].kind, ResourceType::ExtensionConfig);
}

/// An answer to an older response is ignored: a newer one is on its way.
#[test]
fn stale_nonces_are_ignored() {
    let mut s = Session::new(config("v1", "a", 80));
    let first = s
        .on_request(&request(ResourceType::Cluster, &[], ""))
        .responses[0]
        .clone();
    let second = s
        .on_request(&request(ResourceType::Cluster, &[], ""))
        .responses[0]
        .clone();
    assert_ne!(first.nonce, second.nonce);
    let out = s.on_request(&nack(ResourceType::Cluster, &[], &first.nonce, "old"));
    assert_eq!(out, Output::default());
}

/// A configuration published during a rollout follows it; one published twice is sent once.
#[test]
fn configurations_published_during_a_rollout_are_queued() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let out = s.on_target(config("v2", "b", 80));
    assert!(s.on_target(config("v3", "c", 80)).responses.is_empty());
    let (_, events) = ack_all(&mut s, out);
    let served: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Serving { .. }))
        .collect();
    assert_eq!(served, [&serving("v2"), &serving("v3")]);
    assert_eq!(s.serving(), Some("v3"));
}

/// A filter config Envoy has not subscribed to yet is not pushed; Envoy gets it when it asks.
#[test]
fn unsubscribed_names_are_delivered_on_request() {
    let mut s = Session::new(config("v1", "a", 80));
    connect(&mut s);
    let mut next = (*config("v2", "a", 80)).clone();
    next.filter_configs.push(TypedExtensionConfig {
        name: "portcullis.egress_audit".into(),
        typed_config: TypedConfig::StringValue(StringValue {
            value: "audit".into(),
        }),
    });
    next.listeners.push(listener("http.8080", 8080));
    let out = s.on_target(Arc::new(next));
    let (kinds, _) = ack_all(&mut s, out);
    assert_eq!(kinds, [ResourceType::Listener]);
    // Envoy now asks for both filter configs (an ACK of its last ECDS answer with new names).
    let last = s.subscriptions[&ResourceType::ExtensionConfig]
        .sent
        .clone()
        .unwrap();
    let out = s.on_request(&request(
        ResourceType::ExtensionConfig,
        &[ROUTER, "portcullis.egress_audit"],
        &last.nonce,
    ));
    let names: Vec<&str> = out.responses[0]
        .resources
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, [ROUTER, "portcullis.egress_audit"]);
}
