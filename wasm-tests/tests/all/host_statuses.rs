//! Every host call a filter makes on the request path, answered with a status it does not
//! expect: `BAD_ARGUMENT`, `INTERNAL_FAILURE`, and a code no ABI version defines. The filter
//! must carry on without trapping (a trap fails every request of the worker's VM, not just
//! the one whose header read failed): it treats the call as having failed and decides with
//! what it has. The calls are found by running the scenario once and reading the host's trace,
//! so a host call added to a filter later is covered without editing a list.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeSet;

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{
    EGRESS_AUDIT_ROOT_ID, cluster, egress_builder, egress_wire, host_filter, route, router,
    status_of, to, wire,
};

/// BAD_ARGUMENT, INTERNAL_FAILURE, and a status outside every ABI version's list.
const STATUSES: [u32; 3] = [2, 10, 99];

/// The statuses forced on `call`. Two calls stay with the SDK (the glue's `abi` module says
/// why) and get only what Envoy can answer: `proxy_http_call` answers OK, BAD_ARGUMENT or
/// INTERNAL_FAILURE; `proxy_set_effective_context`, made by the SDK's dispatcher before each
/// callout answer with the context id Envoy itself handed out, answers OK.
fn statuses(call: &str) -> &'static [u32] {
    match call {
        "proxy_http_call" => &[2, 10],
        "proxy_set_effective_context" => &[],
        _ => &STATUSES,
    }
}

fn router_config() -> Value {
    let mut config = wire(
        &["good.example.com"],
        vec![
            route(
                "user",
                json!({"headers": {"x-user": {"regex": ".*bob"}}}),
                to(&cluster("user")),
                json!({"headers": {
                    "request": {"set": {"x-routed": "user"}, "add": {"x-via": "portcullis"},
                                "remove": ["x-debug"]},
                    "response": {"set": {"x-served-by": "portcullis"}, "add": {"x-hop": "1"},
                                 "remove": ["server"]}
                }}),
            ),
            route(
                "slow",
                json!({"uri": {"prefix": "/slow"}}),
                to(&cluster("app")),
                json!({
                    "fault": {"delay": {"fixedDelayMs": 10, "percentage": 100.0}},
                    "mirrors": [{"cluster": cluster("shadow"), "percentage": 100.0}]
                }),
            ),
            route(
                "slash",
                json!({"uri": {"prefix": "/"}}),
                to(&cluster("app")),
                json!({}),
            ),
        ],
    );
    // A second listener: with one, the router knows the bind port without asking, and the
    // scenario would never read a property.
    if let Some(listeners) = config["listeners"].as_array_mut() {
        listeners.push(json!({"port": 81, "servers": [], "virtualHosts": []}));
    }
    config
}

/// A routed request with header changes both ways, a routed request without, a delayed and
/// mirrored one (the root's tick resumes it), and a refused host (a local reply).
fn http_scenario(host: &mut Host) {
    let mut s = host
        .http_request()
        .get("good.example.com", "/")
        .header("x-user", "bob")
        .header("x-debug", "1")
        .send_headers_only()
        .unwrap();
    if status_of(&s) == 0 {
        s.respond_headers(200, &[("server", "upstream")], true);
    }
    s.finish();
    let mut s = host
        .http_request()
        .get("good.example.com", "/other")
        .send_headers_only()
        .unwrap();
    if status_of(&s) == 0 {
        s.respond_headers(200, &[], true);
    }
    s.finish();
    let mut s = host
        .http_request()
        .get("good.example.com", "/slow")
        .send_headers_only()
        .unwrap();
    s.host().advance(20);
    for callout in s.host().pending_callouts() {
        let _ = s.host().answer_callout(callout.token, 200, &[], b"");
    }
    s.finish();
    let s = host
        .http_request()
        .get("evil.example.com", "/")
        .send_headers_only()
        .unwrap();
    s.finish();
    host.run_pending();
}

fn egress_config() -> Value {
    egress_wire(json!({
        "allowedHosts": [{"host": "api.example.com", "rule": "ServiceEntry default/api"}],
        "audit": {
            "includeHeaders": ["authorization"],
            "sink": {"http": {"cluster": "outbound|4318||collector.audit.svc.cluster.local",
                "authority": "collector", "batchSize": 1, "flushIntervalMs": 10,
                "maxBuffered": 16, "initialBackoffMs": 10, "maxBackoffMs": 20}}
        }
    }))
}

/// An allowed and a denied request, then the collector flush: the queue, the callout and its
/// answer.
fn egress_scenario(host: &mut Host) {
    http_scenario_egress(host, "api.example.com");
    http_scenario_egress(host, "evil.example.com");
    host.advance(20);
    for callout in host.pending_callouts() {
        let _ = host.answer_callout(callout.token, 200, &[], b"");
    }
    host.advance(20);
}

fn http_scenario_egress(host: &mut Host, authority: &str) {
    let mut s = host
        .http_request()
        .get(authority, "/v1?token=secret")
        .header("authorization", "Bearer x")
        .send_headers_only()
        .unwrap();
    if status_of(&s) == 0 {
        s.respond_headers(200, &[], true);
    }
    s.finish();
    host.run_pending();
}

/// The `proxy_*` calls the scenario makes after the host has started.
fn calls_made(make: fn() -> Host, scenario: fn(&mut Host)) -> BTreeSet<&'static str> {
    let mut host = make();
    let started = host.trace().len();
    scenario(&mut host);
    assert!(host.failures().is_empty(), "{}", host.report());
    host.trace()[started..]
        .iter()
        .map(|call| call.name)
        .filter(|name| name.starts_with("proxy_"))
        .collect()
}

/// Runs the scenario once per (call, status), each on a fresh host, and lists the traps.
/// `expected` are calls the scenario must reach, so that it cannot silently cover less.
fn traps_under_forced_statuses(
    make: fn() -> Host,
    scenario: fn(&mut Host),
    expected: &[&str],
) -> Vec<String> {
    let calls = calls_made(make, scenario);
    for call in expected {
        assert!(
            calls.contains(call),
            "the scenario never calls {call}: {calls:?}"
        );
    }
    let mut traps = Vec::new();
    for call in &calls {
        for &status in statuses(call) {
            let mut host = make();
            host.force_status(call, status);
            scenario(&mut host);
            let forced = host
                .trace()
                .iter()
                .any(|c| c.name == *call && c.detail == "status forced by the test");
            assert!(forced, "{call} was not called once forced");
            if !host.failures().is_empty() {
                traps.push(format!("{call} → {status}: {:?}", host.failures()));
            }
        }
    }
    traps
}

#[test]
fn router_survives_any_status_from_any_call() {
    let traps = traps_under_forced_statuses(
        || router(&router_config()),
        http_scenario,
        &[
            "proxy_get_header_map_pairs",
            "proxy_replace_header_map_value",
            "proxy_add_header_map_value",
            "proxy_remove_header_map_value",
            "proxy_get_property",
            "proxy_send_local_response",
            "proxy_http_call",
            "proxy_continue_stream",
            "proxy_set_tick_period_milliseconds",
            "proxy_increment_metric",
        ],
    );
    assert!(traps.is_empty(), "{traps:#?}");
}

#[test]
fn host_filter_survives_any_status_from_any_call() {
    let traps = traps_under_forced_statuses(
        || host_filter(&router_config()),
        http_scenario,
        &["proxy_get_header_map_value", "proxy_send_local_response"],
    );
    assert!(traps.is_empty(), "{traps:#?}");
}

#[test]
fn egress_audit_survives_any_status_from_any_call() {
    let traps = traps_under_forced_statuses(
        || {
            egress_builder(&egress_config(), EGRESS_AUDIT_ROOT_ID)
                .build()
                .unwrap()
        },
        egress_scenario,
        &[
            "proxy_get_header_map_value",
            "proxy_enqueue_shared_queue",
            "proxy_dequeue_shared_queue",
            "proxy_http_call",
            "proxy_send_local_response",
        ],
    );
    assert!(traps.is_empty(), "{traps:#?}");
}

/// A failed header read costs the header, not the request: with every request-header read
/// failing, the router still answers (the route it can prove, or the refusal it can prove),
/// and the next request, with the host healthy again, is routed as usual.
#[test]
fn a_failed_header_read_does_not_poison_the_worker() {
    let mut host = router(&router_config());
    host.force_status("proxy_get_header_map_pairs", 10);
    host.force_status("proxy_get_header_map_value", 10);
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .send_headers_only()
        .unwrap();
    s.finish();
    host.clear_forced_statuses();
    let s = host
        .http_request()
        .get("good.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.upstream_cluster(),
        Some(cluster("app")),
        "{}",
        s.host_report()
    );
    assert!(host.failures().is_empty(), "{}", host.report());
}
