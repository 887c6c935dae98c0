//! Live reload through a real Envoy: VirtualService changes applied while a client loop runs
//! lose no request; a change Envoy rejects leaves the last good config serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::http::get;
use crate::support::*;
use portcullis::local::Compiled;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::json;

/// dev.example.com → `cluster` (with `uri_regex` as an extra route, to make a config invalid).
pub(crate) fn compiled(
    bind: u16,
    cluster: &str,
    ports: &[(&str, u16)],
    regex: &str,
    version: &str,
) -> Compiled {
    let wire = wire(json!({
        "version": 1,
        "configVersion": version,
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["dev.example.com"] }],
            "virtualHosts": [{ "name": "dev", "domains": ["dev.example.com"], "routes": [
                { "name": "re", "match": { "uri": { "regex": regex } },
                  "action": { "directResponse": { "status": 204 } } },
                { "name": "dev", "action": { "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } } },
            ]}],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: ports
            .iter()
            .map(|(name, port)| local_cluster(name, *port))
            .collect(),
    };
    Compiled { wire, plan }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_apply_live_without_failed_requests() {
    let (bind, blue, green) = (free_port(), free_port(), free_port());
    let first = compiled(bind, "blue", &[("blue", blue)], "/ping", "v0");
    let mut gw = start(first.wire, first.plan).await;

    // A client loop: every response must be a 200 from one of the two upstreams.
    let running = Arc::new(AtomicBool::new(true));
    let client = tokio::spawn({
        let running = running.clone();
        async move {
            let (mut ok, mut failures, mut seen) =
                (0u32, Vec::new(), std::collections::BTreeSet::new());
            while running.load(Ordering::Relaxed) {
                match get("dev.example.com", "/").try_send(bind).await {
                    Ok(r) if r.status == 200 => {
                        ok += 1;
                        seen.insert(r.upstream());
                    }
                    Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (ok, failures, seen)
        }
    });

    // Swap blue ↔ green ten times; each swap adds the new cluster and drops the old one.
    let mut elapsed: Vec<std::time::Duration> = Vec::new();
    for i in 1..=10 {
        let (to, port) = if i % 2 == 1 {
            ("green", green)
        } else {
            ("blue", blue)
        };
        let next = compiled(bind, to, &[(to, port)], "/ping", &format!("v{i}"));
        let report = gw.apply(next).await.unwrap();
        elapsed.push(report.elapsed);
        assert!(
            report.updated.iter().any(|u| u == "portcullis.router"),
            "{report:?}"
        );
        // The next request after a confirmed update goes to the new upstream.
        let r = get("dev.example.com", "/").send(bind).await;
        assert_eq!(r.upstream(), to, "swap {i}: {r:?}");
    }

    // An invalid regex: the router refuses the config, Envoy keeps the last good one.
    let bad = compiled(bind, "blue", &[("blue", blue)], "(unclosed", "bad");
    let err = gw.apply(bad).await.unwrap_err();
    assert!(err.to_string().contains("portcullis.router"), "{err}");
    assert!(
        err.to_string().contains("invalid regex"),
        "the reason is reported: {err}"
    );
    assert_eq!(gw.current().wire.config_version, "v10");
    let r = get("dev.example.com", "/").send(bind).await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "blue"),
        "last good config serves"
    );

    running.store(false, Ordering::Relaxed);
    let (ok, failures, seen) = client.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} failed of {}: {failures:?}",
        failures.len(),
        ok as usize + failures.len()
    );
    assert!(ok > 50, "only {ok} requests");
    assert_eq!(seen.len(), 2, "{seen:?}");
    elapsed.sort();
    eprintln!(
        "live reload: {ok} requests, 0 failed, 10 swaps + 1 rejected change; \
         apply (CDS add + ECDS + CDS remove, each confirmed) median {:?}, max {:?}",
        elapsed[elapsed.len() / 2],
        elapsed[elapsed.len() - 1]
    );

    finish(gw).await;
}

/// A new Gateway port goes live through LDS without disturbing the existing listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_listener_goes_live() {
    let (bind, blue) = (free_port(), free_port());
    let first = compiled(bind, "blue", &[("blue", blue)], "/ping", "v0");
    let mut gw = start(first.wire.clone(), first.plan.clone()).await;

    let second_bind = free_port();
    let mut next = first;
    let mut listener = next.wire.listeners[0].clone();
    listener.port = 8080;
    listener.bind_port = Some(second_bind);
    next.wire.listeners.push(listener);
    next.wire.config_version = "v1".into();
    next.plan
        .listeners
        .push(http_listener(8080, second_bind, ListenerKind::Ingress));
    let report = gw.apply(next).await.unwrap();
    assert_eq!(
        report.updated,
        ["portcullis.router", "listeners"],
        "{report:?}"
    );

    for port in [bind, second_bind] {
        let r = get("dev.example.com", "/").send(port).await;
        assert_eq!(
            (r.status, r.upstream().as_str()),
            (200, "blue"),
            "port {port}: {r:?}"
        );
    }
    finish(gw).await;
}

/// Envoy refuses the listeners of a change after it accepted the change's new cluster and
/// filter config (the new port is taken): the rollout is undone in reverse order, so the old
/// listeners keep running the old filter config, which routes to the old cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_listener_update_rolls_back_the_filter_config() {
    let (bind, blue, green) = (free_port(), free_port(), free_port());
    let first = compiled(bind, "blue", &[("blue", blue)], "/ping", "v0");
    let mut gw = start(first.wire.clone(), first.plan.clone()).await;

    // The change moves the route to green and adds a listener on a port someone else holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let mut next = compiled(bind, "green", &[("green", green)], "/ping", "v1");
    let mut listener = next.wire.listeners[0].clone();
    listener.port = 8080;
    listener.bind_port = Some(taken_port);
    next.wire.listeners.push(listener);
    next.plan
        .listeners
        .push(http_listener(8080, taken_port, ListenerKind::Ingress));

    let err = gw.apply(next).await.unwrap_err();
    assert!(err.to_string().contains("listeners"), "{err}");
    assert_eq!(gw.current().wire.config_version, "v0");
    let r = get("dev.example.com", "/").send(bind).await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "blue"),
        "the old filter config is back: {r:?}"
    );
    drop(taken);
    finish(gw).await;
}
