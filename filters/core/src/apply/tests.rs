//! The header translation, host call by host call, against a recording host.

use serde_json::{Value, json};

use super::*;
use crate::wire::{Retries, WireConfig};
use crate::{Gateway, Outcome, RequestView, SplitMix64};

/// One host call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Set(String, String),
    Add(String, String),
    Remove(String),
}

fn set(name: &str, value: &str) -> Call {
    Call::Set(name.into(), value.into())
}

fn add(name: &str, value: &str) -> Call {
    Call::Add(name.into(), value.into())
}

fn remove(name: &str) -> Call {
    Call::Remove(name.into())
}

/// Records every call, in order; request and response calls alike.
#[derive(Debug, Default)]
struct Recorder(Vec<Call>);

impl RequestHeaderHost for Recorder {
    fn set_request_header(&mut self, name: &str, value: &str) {
        self.0.push(set(name, value));
    }
    fn add_request_header(&mut self, name: &str, value: &str) {
        self.0.push(add(name, value));
    }
    fn remove_request_header(&mut self, name: &str) {
        self.0.push(remove(name));
    }
}

impl ResponseHeaderHost for Recorder {
    fn set_response_header(&mut self, name: &str, value: &str) {
        self.0.push(set(name, value));
    }
    fn add_response_header(&mut self, name: &str, value: &str) {
        self.0.push(add(name, value));
    }
    fn remove_response_header(&mut self, name: &str) {
        self.0.push(remove(name));
    }
}

/// A gateway with one catch-all route: `action` plus the route fields in `extra`, and the
/// mesh default retries the compiler gives a route without `retries` unless `extra` has them.
fn gateway(action: Value, extra: Value) -> Gateway {
    let default_retries = serde_json::to_value(Retries::mesh_default()).unwrap();
    let mut route = json!({"name": "r", "action": action, "retries": default_retries});
    if let (Some(r), Some(extra)) = (route.as_object_mut(), extra.as_object()) {
        r.extend(extra.clone());
    }
    let config = json!({
        "version": 1,
        "configVersion": "sha256:t",
        "listeners": [{
            "port": 80,
            "servers": [{"name": "ns/gw/http", "hosts": ["*"]}],
            "virtualHosts": [{"name": "all", "domains": ["*"], "routes": [route]}]
        }]
    });
    let wire = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
    Gateway::compile(&wire).unwrap()
}

fn to(cluster: &str) -> Value {
    json!({"route": {"destinations": [{"cluster": cluster, "weight": 100}]}})
}

/// The request-phase calls for GET `path` on `gw`, and the response-phase calls after it.
fn calls(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (Vec<Call>, Vec<Call>) {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = RequestView {
        bind_port: 80,
        authority: "h.example.com",
        path,
        method: "GET",
        scheme: "http",
        tls: false,
        sni: None,
        filter_chain: None,
        headers: &headers,
    };
    let Outcome::Forward(plan) = gw.decide(&request, &mut SplitMix64(1)).outcome else {
        panic!("not forwarded");
    };
    let mut on_request = Recorder::default();
    apply_forward(&plan, path, &mut on_request);
    let mut on_response = Recorder::default();
    apply_response(
        gw.response_operations(plan.handle),
        &plan.cors_response_headers,
        &mut on_response,
    );
    (on_request.0, on_response.0)
}

/// The plainest forward: the cluster header (set, so a client's value is overwritten), then
/// nothing else; nothing on the response.
#[test]
fn the_cluster_header_alone() {
    let gw = gateway(to("outbound|80||a"), json!({}));
    let (request, response) = calls(&gw, "/x", &[]);
    assert_eq!(request, [set(CLUSTER_HEADER, "outbound|80||a")]);
    assert_eq!(response, []);
}

/// V-21: a path rewrite keeps the path as received in `x-envoy-original-path`, before the new
/// `:path`; an authority rewrite sets `:authority`.
#[test]
fn path_and_authority_rewrites() {
    let action = json!({"route": {
        "destinations": [{"cluster": "c", "weight": 1}],
        "rewrite": {"uri": "/new", "authority": "upstream.internal"}
    }});
    let gw = gateway(action, json!({}));
    let (request, _) = calls(&gw, "/old?q=1", &[]);
    assert_eq!(
        request,
        [
            set(CLUSTER_HEADER, "c"),
            set(ORIGINAL_PATH_HEADER, "/old?q=1"),
            set(":path", "/newold?q=1"),
            set(":authority", "upstream.internal"),
        ]
    );
}

/// V-22: route operations before the destination's, each set in Envoy's order (remove, set,
/// add) whatever the order of the JSON; an authority set by an operation also rewrites
/// `:authority` first (V-21).
#[test]
fn request_operations_in_envoys_order() {
    let action = json!({"route": {"destinations": [{"cluster": "c", "weight": 1, "headers": {
        "request": {"add": {"x-dest-add": "d"}, "set": {"host": "dest.internal"}, "remove": ["x-dest-gone"]}
    }}]}});
    let route_headers = json!({"headers": {"request": {
        "add": {"x-b": "2", "x-a": "1"}, "set": {"x-s": "s"}, "remove": ["x-r1", "x-r2"]
    }}});
    let gw = gateway(action, route_headers);
    let (request, _) = calls(&gw, "/", &[]);
    assert_eq!(
        request,
        [
            set(CLUSTER_HEADER, "c"),
            set(":authority", "dest.internal"),
            remove("x-r1"),
            remove("x-r2"),
            set("x-s", "s"),
            add("x-a", "1"),
            add("x-b", "2"),
            remove("x-dest-gone"),
            set("host", "dest.internal"),
            add("x-dest-add", "d"),
        ]
    );
}

/// V-24: the timeout, then a retry policy of the route's own: the header that selects Envoy's
/// route without a retry policy, then the policy as the headers Envoy's router honours.
#[test]
fn timeout_and_retries() {
    let extra = json!({"timeoutMs": 1500, "retries": {"attempts": 3, "perTryTimeoutMs": 200, "retryOn": "5xx,reset"}});
    let gw = gateway(to("c"), extra);
    let (request, _) = calls(&gw, "/", &[]);
    assert_eq!(
        request,
        [
            set(CLUSTER_HEADER, "c"),
            set(UPSTREAM_TIMEOUT_HEADER, "1500"),
            set(OWN_RETRIES_HEADER, "1"),
            set(MAX_RETRIES_HEADER, "3"),
            set(RETRY_ON_HEADER, "5xx,reset"),
            set(PER_TRY_TIMEOUT_HEADER, "200"),
        ]
    );
    let gw = gateway(to("c"), json!({"retries": {"attempts": 0}}));
    let (request, _) = calls(&gw, "/", &[]);
    assert_eq!(
        request,
        [
            set(CLUSTER_HEADER, "c"),
            set(OWN_RETRIES_HEADER, "1"),
            set(MAX_RETRIES_HEADER, "0")
        ]
    );
}

/// V-24: Istio's mesh default policy is the Envoy route's own, so it costs no header; no
/// policy at all (a rule with a fault) still selects the route without one.
#[test]
fn mesh_default_retries_write_nothing() {
    let gw = gateway(to("c"), json!({}));
    let (request, _) = calls(&gw, "/", &[]);
    assert_eq!(request, [set(CLUSTER_HEADER, "c")]);
    let gw = gateway(to("c"), json!({ "retries": null }));
    let (request, _) = calls(&gw, "/", &[]);
    assert_eq!(
        request,
        [set(CLUSTER_HEADER, "c"), set(OWN_RETRIES_HEADER, "1")]
    );
}

/// Every kind at once keeps the documented order: cluster, path, authority, operations,
/// timeout, retries.
#[test]
fn full_plan_order() {
    let action = json!({"route": {
        "destinations": [{"cluster": "c", "weight": 1}],
        "rewrite": {"uri": "/v2", "authority": "a.internal"}
    }});
    let extra = json!({
        "headers": {"request": {"set": {"x-s": "1"}}},
        "timeoutMs": 10,
        "retries": {"attempts": 1}
    });
    let gw = gateway(action, extra);
    let (request, _) = calls(&gw, "/v1", &[]);
    assert_eq!(
        request,
        [
            set(CLUSTER_HEADER, "c"),
            set(ORIGINAL_PATH_HEADER, "/v1"),
            set(":path", "/v2v1"),
            set(":authority", "a.internal"),
            set("x-s", "1"),
            set(UPSTREAM_TIMEOUT_HEADER, "10"),
            set(OWN_RETRIES_HEADER, "1"),
            set(MAX_RETRIES_HEADER, "1"),
        ]
    );
}

/// V-22, V-24: response operations, route then destination, each remove/set/add; then the
/// CORS headers of an allowed origin, set.
#[test]
fn response_operations_then_cors() {
    let action = json!({"route": {"destinations": [{"cluster": "c", "weight": 1, "headers": {
        "response": {"add": {"x-d": "d"}, "remove": ["server"]}
    }}]}});
    let extra = json!({
        "headers": {"response": {"add": {"x-a": "a"}, "set": {"x-s": "s"}, "remove": ["x-r"]}},
        "cors": {"allowOrigins": [{"exact": "https://app.example.com"}], "exposeHeaders": ["x-s"]}
    });
    let gw = gateway(action, extra);
    let (_, response) = calls(&gw, "/", &[("origin", "https://app.example.com")]);
    assert_eq!(
        response,
        [
            remove("x-r"),
            set("x-s", "s"),
            add("x-a", "a"),
            remove("server"),
            add("x-d", "d"),
            set("access-control-allow-origin", "https://app.example.com"),
            set("access-control-expose-headers", "x-s"),
        ]
    );
    let (_, response) = calls(&gw, "/", &[]);
    assert_eq!(response.len(), 5, "no CORS headers without an Origin");
}

/// A local answer's headers: set then add; remove has nothing to act on.
#[test]
fn local_response_headers_set_then_add() {
    let ops: HeaderOperations = serde_json::from_value(json!({
        "add": {"x-a": "a"}, "set": {"x-s": "s"}, "remove": ["x-r"]
    }))
    .unwrap();
    let mut headers = vec![("location", "https://h/")];
    local_response_headers(&mut headers, Some(&ops));
    assert_eq!(
        headers,
        [("location", "https://h/"), ("x-s", "s"), ("x-a", "a")]
    );
    local_response_headers(&mut headers, None);
    assert_eq!(headers.len(), 3);
}

/// V-24: a mirror gets the request headers, `-shadow` on the authority, no cluster header.
#[test]
fn mirror_headers_shadow_authority_without_cluster_header() {
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let headers = owned(&[
        (":authority", "h.example.com"),
        (":path", "/x"),
        (CLUSTER_HEADER, "c"),
        ("x-a", "1"),
    ]);
    assert_eq!(
        mirror_headers(headers),
        owned(&[
            (":authority", "h.example.com-shadow"),
            (":path", "/x"),
            ("x-a", "1")
        ])
    );
}
