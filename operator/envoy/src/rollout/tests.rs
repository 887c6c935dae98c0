//! The rollout order, step by step.

use std::collections::BTreeMap;

use super::*;
use crate::api::{
    Address, ClusterLoadAssignment, DataSource, DiscoveryType, SecretKind, StringValue,
    TlsCertificate, TypedConfig,
};

/// A cluster; two clusters of one name and different `version`s differ, as a changed
/// definition does.
fn cluster(name: &str, version: u16) -> Cluster {
    Cluster {
        name: name.into(),
        discovery_type: DiscoveryType::Static,
        connect_timeout: crate::api::Duration::from_secs(version.into()),
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

fn filter(name: &str, wire: &str) -> TypedExtensionConfig {
    TypedExtensionConfig {
        name: name.into(),
        typed_config: TypedConfig::StringValue(StringValue { value: wire.into() }),
    }
}

fn listener(name: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        address: Address::socket("127.0.0.1", port),
        filter_chains: vec![],
        listener_filters: vec![],
        default_filter_chain: None,
    }
}

fn secret(name: &str, key: &str) -> Secret {
    Secret {
        name: name.into(),
        kind: SecretKind::TlsCertificate(TlsCertificate {
            certificate_chain: DataSource::InlineString("CERT".into()),
            private_key: DataSource::InlineString(key.into()),
        }),
    }
}

fn snapshot(
    clusters: Vec<Cluster>,
    filters: Vec<TypedExtensionConfig>,
    listeners: Vec<Listener>,
    secrets: Vec<Secret>,
) -> Snapshot {
    Snapshot {
        version: "v".into(),
        listeners,
        clusters,
        filter_configs: filters,
        secrets,
    }
}

fn names(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.resource().to_string()).collect()
}

/// The first delivery adds everything, clusters before filters before listeners.
#[test]
fn first_rollout_delivers_every_type_in_order() {
    let new = snapshot(
        vec![cluster("a", 1)],
        vec![filter("portcullis.router", "w1")],
        vec![listener("http.80", 80)],
        vec![secret("https.443.0", "K")],
    );
    let steps = rollout(None, &new);
    assert_eq!(
        names(&steps),
        ["secrets", "clusters", "portcullis.router", "listeners"]
    );
}

/// Nothing changed: nothing to do.
#[test]
fn unchanged_configuration_has_no_steps() {
    let s = snapshot(
        vec![cluster("a", 1)],
        vec![filter("portcullis.router", "w1")],
        vec![listener("http.80", 80)],
        vec![],
    );
    assert!(rollout(Some(&s), &s).is_empty());
}

/// A route moves from cluster `a` to a new cluster `b`: `b` is added while `a` stays, the
/// filter switches, and only then is `a` removed.
#[test]
fn a_moved_route_adds_before_it_switches_and_removes_after() {
    let old = snapshot(
        vec![cluster("a", 1)],
        vec![filter("portcullis.router", "to a")],
        vec![listener("http.80", 80)],
        vec![],
    );
    let new = snapshot(
        vec![cluster("b", 2)],
        vec![filter("portcullis.router", "to b")],
        vec![listener("http.80", 80)],
        vec![],
    );
    let steps = rollout(Some(&old), &new);
    assert_eq!(
        steps,
        vec![
            Step::Clusters(vec![cluster("b", 2), cluster("a", 1)]),
            Step::FilterConfig(filter("portcullis.router", "to b")),
            Step::Clusters(vec![cluster("b", 2)]),
        ]
    );
}

/// A changed cluster definition is delivered once, with the new definition.
#[test]
fn a_changed_cluster_is_replaced_in_one_step() {
    let old = snapshot(vec![cluster("a", 1)], vec![], vec![], vec![]);
    let new = snapshot(vec![cluster("a", 9)], vec![], vec![], vec![]);
    assert_eq!(
        rollout(Some(&old), &new),
        vec![Step::Clusters(vec![cluster("a", 9)])]
    );
}

/// A rotated key reaches Envoy before the listener changes; the old secret is dropped last.
#[test]
fn secrets_are_added_first_and_removed_last() {
    let old = snapshot(
        vec![],
        vec![],
        vec![listener("https.443", 443)],
        vec![secret("old", "K1")],
    );
    let new = snapshot(
        vec![],
        vec![],
        vec![listener("https.443", 8443)],
        vec![secret("new", "K2")],
    );
    let steps = rollout(Some(&old), &new);
    assert_eq!(names(&steps), ["secrets", "listeners", "secrets"]);
    assert_eq!(
        steps[0],
        Step::Secrets(vec![secret("new", "K2"), secret("old", "K1")])
    );
    assert_eq!(steps[2], Step::Secrets(vec![secret("new", "K2")]));
}

/// Only the filter configs that changed get a step, in the new snapshot's order.
#[test]
fn only_changed_filter_configs_are_delivered() {
    let old = snapshot(
        vec![],
        vec![
            filter("portcullis.egress_audit", "w1"),
            filter("portcullis.router", "w1"),
        ],
        vec![],
        vec![],
    );
    let new = snapshot(
        vec![],
        vec![
            filter("portcullis.egress_audit", "w1"),
            filter("portcullis.router", "w2"),
        ],
        vec![],
        vec![],
    );
    assert_eq!(names(&rollout(Some(&old), &new)), ["portcullis.router"]);
}

/// Refused listeners after new clusters and a new filter config: the filter config goes back
/// before the clusters do, so the old listeners never run a filter routing to a missing cluster.
#[test]
fn undo_restores_in_reverse_order() {
    let old = snapshot(
        vec![cluster("a", 1)],
        vec![filter("portcullis.router", "to a")],
        vec![listener("http.80", 80)],
        vec![],
    );
    let new = snapshot(
        vec![cluster("b", 2)],
        vec![filter("portcullis.router", "to b")],
        vec![listener("http.81", 81)],
        vec![],
    );
    let steps = rollout(Some(&old), &new);
    assert_eq!(
        names(&steps),
        ["clusters", "portcullis.router", "listeners", "clusters"]
    );
    let back = undo(&old, &steps[..3]);
    assert_eq!(
        back,
        vec![
            Step::Listeners(vec![listener("http.80", 80)]),
            Step::FilterConfig(filter("portcullis.router", "to a")),
            Step::Clusters(vec![cluster("a", 1)]),
        ]
    );
}

/// A filter configuration the old snapshot never had is left alone by undo.
#[test]
fn undo_leaves_filter_configs_old_never_had() {
    let old = snapshot(
        vec![],
        vec![filter("portcullis.router", "w1")],
        vec![],
        vec![],
    );
    let applied = vec![Step::FilterConfig(filter("portcullis.egress_audit", "w2"))];
    assert!(undo(&old, &applied).is_empty());
}
