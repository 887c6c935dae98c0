use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use portcullis_compile::diagnostics::Diagnostic;
use portcullis_envoy::Snapshot;
use portcullis_xds::{Compiled, Counts, Nack, ProxyStatus};

use super::fixtures::filter;
use crate::crd::GatewayFilter;
use crate::reconcile::{condition_events, istio_reference};
use crate::status::{Observed, WorkloadProxy, status};

fn compiled(version: &str) -> Compiled {
    Compiled {
        snapshot: Some(Arc::new(Snapshot {
            version: version.into(),
            listeners: vec![],
            clusters: vec![],
            filter_configs: vec![],
            secrets: vec![],
        })),
        diagnostics: vec![],
        error: None,
        took: Duration::ZERO,
        counts: Counts {
            hosts: 3,
            routes: 5,
            config_bytes: 100,
        },
        wire: None,
        plan: None,
    }
}

fn failed(error: &str) -> Compiled {
    Compiled {
        snapshot: None,
        diagnostics: vec![Diagnostic::error(
            "VirtualService edge/bad",
            "invalid regex",
        )],
        error: Some(error.into()),
        took: Duration::ZERO,
        counts: Counts::default(),
        wire: None,
        plan: None,
    }
}

fn proxy(node: &str, acked: Option<&str>, sent: Option<&str>) -> ProxyStatus {
    ProxyStatus {
        node_id: node.into(),
        stream: 1,
        labels: BTreeMap::from([("istio".into(), "ingressgateway".into())]),
        namespace: "edge".into(),
        connected_at: 0,
        acked: acked.map(str::to_string),
        sent: sent.map(str::to_string),
        last_nack: None,
        rolling_out: false,
        last_rollout: vec![],
        note: None,
    }
}

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn observe(
    f: &GatewayFilter,
    c: &Compiled,
    proxies: &[WorkloadProxy],
    now: i64,
) -> crate::crd::GatewayFilterStatus {
    status(&Observed {
        filter: f,
        conflicts_with: None,
        compiled: c,
        unreadable: &[],
        proxies,
        distributed: None,
        now: at(now),
    })
}

fn get<'a>(
    s: &'a crate::crd::GatewayFilterStatus,
    kind: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

fn workload_proxy(status: ProxyStatus, expected: &str) -> WorkloadProxy {
    WorkloadProxy {
        status,
        expected: Some(expected.into()),
    }
}

/// Programmed counts only proxies that run the configuration compiled for them, as a whole.
#[test]
fn programmed_counts_proxies_in_sync_with_the_current_hash() {
    let f = filter("edge", "ingress", 0, &[("istio", "ingressgateway")]);
    let c = compiled("sha256:new");
    let proxies = [
        workload_proxy(
            proxy("a", Some("sha256:new"), Some("sha256:new")),
            "sha256:new",
        ),
        workload_proxy(
            proxy("b", Some("sha256:old"), Some("sha256:new")),
            "sha256:new",
        ),
    ];
    let s = observe(&f, &c, &proxies, 0);
    assert_eq!(s.proxies.as_deref(), Some("1/2"));
    assert_eq!(s.compiled_hash.as_deref(), Some("sha256:new"));
    assert_eq!((s.hosts, s.routes), (3, 5));
    assert_eq!(get(&s, "Accepted").status, "True");
    assert_eq!(get(&s, "Programmed").status, "False");
    assert_eq!(get(&s, "Programmed").reason, "Pending");
    let all = [
        workload_proxy(
            proxy("a", Some("sha256:new"), Some("sha256:new")),
            "sha256:new",
        ),
        workload_proxy(
            proxy("b", Some("sha256:new"), Some("sha256:new")),
            "sha256:new",
        ),
    ];
    let s = observe(&f, &c, &all, 0);
    assert_eq!(s.proxies.as_deref(), Some("2/2"));
    assert_eq!(get(&s, "Programmed").status, "True");
    assert_eq!(get(&s, "Degraded").status, "False");
    assert_eq!(s.observed_generation, Some(1));
}

/// A proxy that refused the current configuration makes the filter not programmed and
/// degraded, with Envoy's reason.
#[test]
fn a_refusal_is_reported_with_envoys_reason() {
    let f = filter("edge", "ingress", 0, &[("istio", "ingressgateway")]);
    let c = compiled("sha256:new");
    let mut p = proxy("a", Some("sha256:old"), Some("sha256:old"));
    p.last_nack = Some(Nack {
        resource_type: "lds".into(),
        resource: "listeners".into(),
        version: "sha256:new".into(),
        detail: "cannot bind 0.0.0.0:80".into(),
        at: 0,
    });
    let s = observe(&f, &c, &[workload_proxy(p, "sha256:new")], 0);
    assert_eq!(get(&s, "Programmed").reason, "Refused");
    assert!(
        get(&s, "Programmed").message.contains("cannot bind"),
        "{s:?}"
    );
    assert_eq!(get(&s, "Degraded").status, "True");
    assert_eq!(get(&s, "Degraded").reason, "ProxyRefused");
}

/// Resources that do not compile: not accepted, the error listed, proxies keep what they run.
#[test]
fn invalid_resources_are_not_accepted_and_listed() {
    let f = filter("edge", "ingress", 0, &[("istio", "ingressgateway")]);
    let s = observe(&f, &failed("1 error(s)"), &[], 0);
    assert_eq!(get(&s, "Accepted").status, "False");
    assert_eq!(get(&s, "Accepted").reason, "Invalid");
    assert_eq!(s.compiled_hash, None);
    assert_eq!(s.ignored.len(), 1);
    assert_eq!(s.ignored[0].resource, "VirtualService edge/bad");
    assert_eq!(get(&s, "Degraded").reason, "ResourcesInvalid");
}

/// A newer GatewayFilter for a workload an older one already selects is not accepted.
#[test]
fn a_second_filter_for_one_workload_is_conflicted() {
    let f = filter("edge", "second", 5, &[("istio", "ingressgateway")]);
    let s = status(&Observed {
        filter: &f,
        conflicts_with: Some("edge/first".into()),
        compiled: &compiled("sha256:x"),
        unreadable: &[],
        proxies: &[],
        distributed: None,
        now: at(0),
    });
    assert_eq!(get(&s, "Accepted").reason, "Conflicted");
    assert!(get(&s, "Accepted").message.contains("edge/first"));
}

/// A condition keeps its transition time while its status holds, so an unchanged status is
/// equal to the stored one and is not written again.
#[test]
fn an_unchanged_status_is_equal_to_the_stored_one() {
    let mut f = (*filter("edge", "ingress", 0, &[("istio", "ingressgateway")])).clone();
    let c = compiled("sha256:x");
    let first = observe(&f, &c, &[], 0);
    f.status = Some(first.clone());
    let again = observe(&f, &c, &[], 60);
    assert_eq!(again, first);
    let synced = [workload_proxy(
        proxy("a", Some("sha256:x"), Some("sha256:x")),
        "sha256:x",
    )];
    let changed = observe(&f, &c, &synced, 120);
    assert_eq!(get(&changed, "Programmed").last_transition_time, at(120));
    assert_eq!(get(&changed, "Accepted").last_transition_time, at(0));
}

/// Events mark what turned: first acceptance, programming, a refusal; nothing when nothing
/// changed.
#[test]
fn events_follow_condition_changes() {
    let mut f = (*filter("edge", "ingress", 0, &[("istio", "ingressgateway")])).clone();
    let c = compiled("sha256:x");
    let first = observe(&f, &c, &[], 0);
    let reasons: Vec<String> = condition_events(None, &first)
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, ["Accepted", "Pending"]);
    f.status = Some(first.clone());
    assert!(condition_events(Some(&first), &observe(&f, &c, &[], 5)).is_empty());
    let synced = [workload_proxy(
        proxy("a", Some("sha256:x"), Some("sha256:x")),
        "sha256:x",
    )];
    let programmed = observe(&f, &c, &synced, 10);
    let reasons: Vec<String> = condition_events(Some(&first), &programmed)
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, ["Programmed"]);
}

#[test]
fn diagnostics_name_istio_objects_for_events() {
    let r = istio_reference("VirtualService shop/reviews").unwrap_or_default();
    assert_eq!(r.kind.as_deref(), Some("VirtualService"));
    assert_eq!(r.namespace.as_deref(), Some("shop"));
    assert_eq!(r.name.as_deref(), Some("reviews"));
    assert_eq!(r.api_version.as_deref(), Some("networking.istio.io/v1"));
    assert!(istio_reference("Secret shop/cert").is_none());
    assert!(istio_reference("examples/seed/vs.yaml").is_none());
}

/// In ConfigMap mode `Programmed` means the ConfigMap is applied, says what the mode cannot
/// report, and no proxy count is shown; a ConfigMap that cannot be built is not programmed.
#[test]
fn a_config_map_distribution_reports_what_was_applied() {
    let mut f = (*filter("edge", "ingress", 0, &[("istio", "ingressgateway")])).clone();
    f.spec.distribution = crate::crd::Distribution::ConfigMap;
    let observed = |distributed| {
        status(&Observed {
            filter: &f,
            conflicts_with: None,
            compiled: &compiled("sha256:x"),
            unreadable: &[],
            proxies: &[],
            distributed: Some(distributed),
            now: at(0),
        })
    };
    let s = observed(Ok(vec!["ConfigMap portcullis-ingress-config".to_string()]));
    assert_eq!(get(&s, "Accepted").status, "True");
    let programmed = get(&s, "Programmed");
    assert_eq!(
        (programmed.status.as_str(), programmed.reason.as_str()),
        ("True", "Applied")
    );
    assert!(
        programmed
            .message
            .contains("ConfigMap portcullis-ingress-config")
            && programmed.message.contains("kubelet"),
        "{}",
        programmed.message
    );
    assert_eq!(s.proxies, None);
    assert_eq!(
        crate::inputs::workloads(&[std::sync::Arc::new(f.clone())]).len(),
        1
    );

    let s = observed(Err("too large".to_string()));
    let programmed = get(&s, "Programmed");
    assert_eq!(
        (
            programmed.status.as_str(),
            programmed.reason.as_str(),
            programmed.message.as_str()
        ),
        ("False", "NotApplied", "too large")
    );
}
