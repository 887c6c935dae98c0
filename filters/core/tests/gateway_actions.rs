//! What a matched route does: weights, rewrites, redirects, direct responses, header
//! operations, faults, mirrors, timeouts, retries and CORS (V-18 … V-24).

mod common;

use common::*;
use portcullis_core::{Outcome, SplitMix64};
use serde_json::{Value, json};

fn with(mut r: Value, key: &str, v: Value) -> Value {
    r[key] = v;
    r
}

fn weighted(weights: &[u32]) -> Value {
    let dests: Vec<Value> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"cluster": format!("c{i}"), "weight": w}))
        .collect();
    json!({"route": {"destinations": dests}})
}

/// Counts the clusters chosen over `n` decisions with one SplitMix64 stream.
fn split(gw: &portcullis_core::Gateway, n: usize) -> std::collections::BTreeMap<String, usize> {
    let req = get("h", "/");
    let mut rng = SplitMix64(42);
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        if let Outcome::Forward(p) = gw.decide(&req.view(), &mut rng).outcome {
            *counts.entry(p.cluster.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// V-18: one destination takes 100% whatever its weight.
#[test]
fn v18_single_destination() {
    let gw = routes(vec![route("r", json!({}), weighted(&[0]))]);
    assert_eq!(split(&gw, 1000).get("c0"), Some(&1000));
}

/// V-18: weights are relative (need not sum to 100) and zero weights are never chosen.
#[test]
fn v18_weighted_split() {
    let gw = routes(vec![route("r", json!({}), weighted(&[1, 0, 3, 6]))]);
    let n = 100_000;
    let counts = split(&gw, n);
    assert_eq!(counts.get("c1"), None, "zero weight chosen");
    for (c, share) in [("c0", 0.1), ("c2", 0.3), ("c3", 0.6)] {
        let got = counts.get(c).copied().unwrap_or(0) as f64 / n as f64;
        assert!((got - share).abs() < 0.01, "{c}: {got} vs {share}");
    }
}

fn rewrite_route(m: Value, rewrite: Value) -> Value {
    route(
        "r",
        m,
        json!({"route": {"destinations": [{"cluster": "c", "weight": 1}], "rewrite": rewrite}}),
    )
}

/// V-21: `uri` replaces the matched prefix, the whole path for exact/regex, `/` for no match;
/// the query is kept; the `//` corner is reproduced.
#[test]
fn v21_uri_rewrite() {
    let table: &[(Value, &str, &str, &str)] = &[
        (
            json!({"uri": {"prefix": "/customer"}}),
            "/",
            "/customer/foo",
            "//foo",
        ),
        (
            json!({"uri": {"prefix": "/customer"}}),
            "/",
            "/customerX",
            "/X",
        ),
        (
            json!({"uri": {"prefix": "/old/"}}),
            "/new/",
            "/old/a?x=1",
            "/new/a?x=1",
        ),
        (json!({}), "/path", "/foo", "/pathfoo"),
        (json!({"uri": {"prefix": ""}}), "/path", "/foo", "/path/foo"),
        (
            json!({"uri": {"exact": "/foo"}}),
            "/new/path",
            "/foo?key=value",
            "/new/path?key=value",
        ),
        (
            json!({"uri": {"regex": "/f.*"}}),
            "/new",
            "/foo/bar?k",
            "/new?k",
        ),
        (
            json!({"uri": {"prefix": "/API"}, "ignoreUriCase": true}),
            "/v2",
            "/api/x",
            "/v2/x",
        ),
    ];
    for (m, uri, path, want) in table {
        let gw = routes(vec![rewrite_route(m.clone(), json!({"uri": uri}))]);
        assert_eq!(
            plan(&gw, &get("h", path)).path.as_deref(),
            Some(*want),
            "{m} {uri} {path}"
        );
    }
}

/// V-21, F.12: regex rewrite substitutes every match; the Istio doc example mechanically gives
/// `/customprefix//v1/api/update`; Envoy's own example gives `/v1/api/instance/foo`.
#[test]
fn v21_regex_rewrite() {
    let rr = |p: &str, s: &str| json!({"uriRegex": {"pattern": p, "substitution": s}});
    let table = [
        (
            rr(r"^/service/([^/]+)(/.*)$", r"/customprefix/\2/\1"),
            "/service/update/v1/api",
            "/customprefix//v1/api/update",
        ),
        (
            rr(r"^/service/([^/]+)(/.*)$", r"\2/instance/\1"),
            "/service/foo/v1/api?q=1",
            "/v1/api/instance/foo?q=1",
        ),
        (rr("a", "b"), "/aaa?a=a", "/bbb?a=a"),
        (rr(r"\d", "N"), "/1٣2", "/N٣N"),
    ];
    for (rw, path, want) in table {
        let gw = routes(vec![rewrite_route(json!({}), rw.clone())]);
        assert_eq!(
            plan(&gw, &get("h", path)).path.as_deref(),
            Some(want),
            "{rw} {path}"
        );
    }
}

/// V-21: authority rewrite; no rewrite leaves path and authority alone.
#[test]
fn v21_authority_rewrite() {
    let gw = routes(vec![rewrite_route(
        json!({}),
        json!({"authority": "upstream.internal"}),
    )]);
    let p = plan(&gw, &get("h", "/x"));
    assert_eq!(p.authority, Some("upstream.internal"));
    assert_eq!(p.path, None);
    // V-22: `:authority`/`host` in a `set` is an authority rewrite; the route's
    // (`rewrite.authority`, then its header form) wins over a destination's.
    let action = |rewrite: Value| {
        json!({"route": {"rewrite": rewrite, "destinations": [
            {"cluster": "c", "weight": 1, "headers": {"request": {"set": {"host": "dest.internal"}}}}
        ]}})
    };
    let headed = |rewrite| {
        with(
            route("r", json!({}), action(rewrite)),
            "headers",
            json!({"request": {"set": {":authority": "route.internal"}}}),
        )
    };
    let gw = routes(vec![headed(json!({"authority": "rw.internal"}))]);
    assert_eq!(plan(&gw, &get("h", "/")).authority, Some("rw.internal"));
    let gw = routes(vec![headed(json!({}))]);
    assert_eq!(plan(&gw, &get("h", "/")).authority, Some("route.internal"));
    let gw = routes(vec![route("r", json!({}), action(json!({})))]);
    assert_eq!(plan(&gw, &get("h", "/")).authority, Some("dest.internal"));
    let r = with(
        route("r", json!({}), fwd("c")),
        "headers",
        json!({"request": {"set": {":authority": "route.internal"}}}),
    );
    assert_eq!(
        plan(&routes(vec![r]), &get("h", "/")).authority,
        Some("route.internal")
    );
}

/// V-22: each of several destinations carries its own authority (`Destination.authority`,
/// Envoy's per-cluster host rewrite), used when the route rewrites none and the request is
/// sent to that destination; a destination without one keeps the request's.
#[test]
fn v22_per_destination_authority() {
    let dests = json!({"route": {"destinations": [
        {"cluster": "a", "weight": 1, "authority": "a.internal"},
        {"cluster": "b", "weight": 1}
    ]}});
    let gw = routes(vec![route("r", json!({}), dests.clone())]);
    let mut rng = SplitMix64(7);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..64 {
        let req = get("h", "/");
        if let Outcome::Forward(p) = gw.decide(&req.view(), &mut rng).outcome {
            seen.insert((p.cluster.to_string(), p.authority.map(str::to_string)));
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("a".to_string(), Some("a.internal".to_string())),
            ("b".to_string(), None)
        ]
    );
    let mut rewritten = dests;
    rewritten["route"]["rewrite"] = json!({"authority": "rw.internal"});
    let gw = routes(vec![route("r", json!({}), rewritten)]);
    let mut rng = SplitMix64(7);
    for _ in 0..16 {
        let req = get("h", "/");
        if let Outcome::Forward(p) = gw.decide(&req.view(), &mut rng).outcome {
            assert_eq!(p.authority, Some("rw.internal"), "the route's rewrite wins");
        }
    }
}

/// One route on `port`: `matcher`, then `redirect`.
fn redirect_config(port: u16, matcher: Value, redirect: Value) -> Value {
    config(vec![listener(
        port,
        vec![server("s", &["*"])],
        vec![vhost(
            "v",
            &["*"],
            vec![route("r", matcher, json!({"redirect": redirect}))],
        )],
    )])
}

fn redirect_gw(port: u16, redirect: Value) -> portcullis_core::Gateway {
    gateway(redirect_config(port, json!({}), redirect))
}

/// V-19: the integration-test examples and the Location composition rules.
#[test]
fn v19_redirects() {
    let fp = json!({"derivePort": "FROM_REQUEST_PORT"});
    let table: &[(u16, Value, Req, &str)] = &[
        (
            80,
            json!({"uri": "/new/path"}),
            get("b", "/foo?key=value"),
            "http://b/new/path?key=value",
        ),
        (80, fp.clone(), get("b", "/foo"), "http://b/foo"),
        (80, fp.clone(), get("b:80", "/foo"), "http://b:80/foo"),
        (85, fp.clone(), get("b", "/foo").port(85), "http://b:85/foo"),
        (
            85,
            fp.clone(),
            get("b:85", "/foo").port(85),
            "http://b:85/foo",
        ),
        (
            443,
            fp,
            get("b", "/foo").port(443).scheme("https"),
            "https://b/foo",
        ),
        (
            80,
            json!({"derivePort": "FROM_PROTOCOL_DEFAULT"}),
            get("b:8080", "/foo"),
            "http://b:8080/foo",
        ),
        (
            80,
            json!({}),
            get("b:8080", "/foo?q"),
            "http://b:8080/foo?q",
        ),
        (
            80,
            json!({"authority": "c.org"}),
            get("b:8080", "/foo"),
            "http://c.org/foo",
        ),
        (
            80,
            json!({"port": 9000}),
            get("b:8080", "/foo"),
            "http://b:9000/foo",
        ),
        (
            80,
            json!({"authority": "c.org", "port": 9000}),
            get("b", "/"),
            "http://c.org:9000/",
        ),
        (
            80,
            json!({"scheme": "https"}),
            get("b:80", "/foo"),
            "https://b/foo",
        ),
        (
            80,
            json!({"scheme": "https"}),
            get("b:8080", "/foo"),
            "https://b:8080/foo",
        ),
        (
            80,
            json!({"uri": "/x?a=1"}),
            get("b", "/foo?key=value"),
            "http://b/x?a=1",
        ),
    ];
    for (port, r, req, want) in table {
        let gw = redirect_gw(*port, r.clone());
        let req = Req {
            bind_port: *port,
            ..req.clone()
        };
        assert_eq!(redirect(&gw, &req), (301, want.to_string()), "{r} {req:?}");
    }
    for code in [301, 302, 303, 307, 308] {
        let gw = redirect_gw(80, json!({"uri": "/n", "code": code}));
        assert_eq!(redirect(&gw, &get("b", "/")).0, code);
    }
}

/// V-19: `prefixRewrite` swaps what the route's `uri` condition matched, as Envoy's redirect
/// `prefix_rewrite` does, and keeps the rest of the path and the query; with no `uri` condition
/// the matched part is `/`; with an exact (or regex) condition, the whole path. `uri` and
/// `prefixRewrite` together are refused.
#[test]
fn v19_prefix_rewrite() {
    let gw_with = |matcher: Value| {
        gateway(redirect_config(
            80,
            matcher,
            json!({"prefixRewrite": "/v2", "code": 302}),
        ))
    };
    let prefix = gw_with(json!({"uri": {"prefix": "/v1"}}));
    assert_eq!(
        redirect(&prefix, &get("b", "/v1/items?page=2")),
        (302, "http://b/v2/items?page=2".to_string())
    );
    assert_eq!(
        redirect(&prefix, &get("b", "/v1")),
        (302, "http://b/v2".to_string())
    );
    let none = gw_with(json!({}));
    assert_eq!(
        redirect(&none, &get("b", "/a/b?q")),
        (302, "http://b/v2a/b?q".to_string())
    );
    let exact = gw_with(json!({"uri": {"exact": "/old"}}));
    assert_eq!(
        redirect(&exact, &get("b", "/old?x=1")),
        (302, "http://b/v2?x=1".to_string())
    );
    let err = refused(redirect_config(
        80,
        json!({}),
        json!({"uri": "/a", "prefixRewrite": "/b"}),
    ));
    assert!(err.contains("prefixRewrite"), "{err}");
}

/// V-20, V-22: a direct response carries its status, body and route response headers.
#[test]
fn v20_direct_response() {
    let r = with(
        route(
            "r",
            json!({}),
            json!({"directResponse": {"status": 503, "body": "down"}}),
        ),
        "headers",
        json!({"response": {"set": {"content-type": "text/plain"}}}),
    );
    let gw = routes(vec![r]);
    match decide(&gw, &get("h", "/")).outcome {
        Outcome::DirectResponse {
            status,
            body,
            response_headers,
        } => {
            assert_eq!((status, body), (503, &b"down"[..]));
            assert_eq!(response_headers.unwrap().set["content-type"], "text/plain");
        }
        other => panic!("{other:?}"),
    }
    // A body that is not UTF-8 arrives as base64 and is answered byte for byte.
    let binary = json!({"directResponse": {"status": 200, "bodyBase64": "AP8Kw6k="}});
    let gw = routes(vec![route("r", json!({}), binary)]);
    match decide(&gw, &get("h", "/")).outcome {
        Outcome::DirectResponse { body, .. } => assert_eq!(body, [0x00, 0xff, 0x0a, 0xc3, 0xa9]),
        other => panic!("{other:?}"),
    }
    for bad in [
        json!({"status": 200, "body": "x", "bodyBase64": "AA=="}),
        json!({"status": 200, "bodyBase64": "not base64!"}),
    ] {
        let config = config(vec![listener(
            80,
            vec![server("s", &["*"])],
            vec![vhost(
                "v",
                &["*"],
                vec![route("r", json!({}), json!({"directResponse": bad}))],
            )],
        )]);
        let wire =
            portcullis_core::wire::WireConfig::from_json(config.to_string().as_bytes()).unwrap();
        let err = portcullis_core::Gateway::compile(&wire)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bodyBase64"), "{err}");
    }
}

/// V-22: route operations first, then the chosen destination's.
#[test]
fn v22_header_ops_order() {
    let action = json!({"route": {"destinations": [{"cluster": "c", "weight": 1, "headers": {
        "request": {"set": {"x-dest": "1"}}, "response": {"remove": ["x-r"]}
    }}]}});
    let r = with(
        route("r", json!({}), action),
        "headers",
        json!({"request": {"add": {"x-route": "1"}}}),
    );
    let gw = routes(vec![r]);
    let p = plan(&gw, &get("h", "/"));
    assert_eq!(p.request_headers.len(), 2);
    assert!(p.request_headers[0].add.contains_key("x-route"));
    assert!(p.request_headers[1].set.contains_key("x-dest"));
    assert_eq!(p.response_headers.len(), 1);
    assert_eq!(p.response_headers[0].remove, ["x-r"]);
}

/// V-22: a forward's handle lends the same response operations again (what the router reads in
/// the response phase), whichever vhost, route and weighted destination took the request; a
/// handle beyond another gateway's routes lends nothing there.
#[test]
fn v22_response_operations_by_handle() {
    let dest = |cluster: &str, weight: u32, header: &str| {
        json!({"cluster": cluster, "weight": weight,
            "headers": {"response": {"set": {header: cluster}}}})
    };
    let vhost_routes = |name: &str| {
        let action = json!({"route": {"destinations": [
            dest(&format!("{name}-0"), 1, "x-d0"),
            dest(&format!("{name}-1"), 1, "x-d1"),
            {"cluster": format!("{name}-2"), "weight": 1},
        ]}});
        vec![
            route("never", json!({"uri": {"exact": "/never"}}), fwd("n")),
            with(
                route(name, json!({}), action),
                "headers",
                json!({"response": {"add": {"x-route": name}}}),
            ),
        ]
    };
    let gw = simple(vec![
        vhost("a", &["a"], vhost_routes("a")),
        vhost("b", &["b"], vhost_routes("b")),
    ]);
    let mut rng = SplitMix64(9);
    let mut seen = std::collections::BTreeSet::new();
    for host in ["a", "b"].iter().cycle().take(60) {
        let Outcome::Forward(p) = gw.decide(&get(host, "/").view(), &mut rng).outcome else {
            panic!("not forwarded");
        };
        let lent: Vec<_> = gw.response_operations(p.handle).collect();
        assert_eq!(lent, p.response_headers, "{}", p.cluster);
        assert_eq!(lent[0].add["x-route"], *host);
        seen.insert(p.cluster.to_string());
    }
    assert_eq!(seen.len(), 6, "every destination of both vhosts: {seen:?}");
    let Outcome::Forward(p) = decide(&gw, &get("a", "/")).outcome else {
        panic!("not forwarded");
    };
    let other = routes(vec![route("r", json!({}), fwd("c"))]);
    assert_eq!(other.response_operations(p.handle).count(), 0);
}

fn fault_gw(fault: Value) -> portcullis_core::Gateway {
    routes(vec![with(route("r", json!({}), fwd("c")), "fault", fault)])
}

/// Share of `n` decisions for which `pred` holds.
fn share(gw: &portcullis_core::Gateway, n: usize, pred: impl Fn(&Outcome<'_>) -> bool) -> f64 {
    let req = get("h", "/");
    let mut rng = SplitMix64(9);
    (0..n)
        .filter(|_| pred(&gw.decide(&req.view(), &mut rng).outcome))
        .count() as f64
        / n as f64
}

fn aborted(o: &Outcome<'_>) -> bool {
    matches!(o, Outcome::Abort { .. })
}

fn delayed(o: &Outcome<'_>) -> bool {
    matches!(o, Outcome::Forward(p) if p.delay_ms == Some(250))
}

/// V-23: 0% never, 100% always, 50% about half; delay and abort drawn independently.
#[test]
fn v23_fault_percentages() {
    let n = 20_000;
    let abort = |p: f64| fault_gw(json!({"abort": {"httpStatus": 418, "percentage": p}}));
    assert_eq!(share(&abort(0.0), n, aborted), 0.0);
    assert_eq!(share(&abort(100.0), n, aborted), 1.0);
    assert!((share(&abort(50.0), n, aborted) - 0.5).abs() < 0.02);
    assert!((share(&abort(0.5), n, aborted) - 0.005).abs() < 0.003);
    let both = fault_gw(json!({
        "delay": {"fixedDelayMs": 250, "percentage": 50},
        "abort": {"httpStatus": 503, "percentage": 50}
    }));
    // Delayed and forwarded = not aborted (1/2) × delayed (1/2).
    assert!((share(&both, n, delayed) - 0.25).abs() < 0.02);
    assert!((share(&both, n, aborted) - 0.5).abs() < 0.02);
}

/// V-23: the abort status (HTTP or gRPC) and the delay reach the outcome.
#[test]
fn v23_fault_outcomes() {
    let gw = fault_gw(json!({"abort": {"httpStatus": 418, "percentage": 100}}));
    assert_eq!(
        decide(&gw, &get("h", "/")).outcome,
        Outcome::Abort {
            status: 418,
            grpc_status: None
        }
    );
    let gw = fault_gw(json!({"abort": {"grpcStatus": 14, "percentage": 100}}));
    assert_eq!(
        decide(&gw, &get("h", "/")).outcome,
        Outcome::Abort {
            status: 200,
            grpc_status: Some(14)
        }
    );
    let gw = fault_gw(json!({"delay": {"fixedDelayMs": 250, "percentage": 100}}));
    assert_eq!(plan(&gw, &get("h", "/")).delay_ms, Some(250));
}

/// V-24: mirrors by percentage; timeout and retries passed through.
#[test]
fn v24_mirrors_timeout_retries() {
    let mut r = route("r", json!({}), fwd("c"));
    r["mirrors"] = json!([
        {"cluster": "always", "percentage": 100},
        {"cluster": "never", "percentage": 0},
        {"cluster": "half", "percentage": 50}
    ]);
    r["timeoutMs"] = json!(1500);
    r["retries"] = json!({"attempts": 3, "retryOn": "5xx", "perTryTimeoutMs": 100});
    let gw = routes(vec![r]);
    let p = plan(&gw, &get("h", "/"));
    assert_eq!(p.timeout_ms, Some(1500));
    assert_eq!(p.retries.map(|r| r.attempts), Some(3));
    assert_eq!(p.mirrors.first(), Some(&"always"));
    assert!(!p.mirrors.contains(&"never"));
    let n = 10_000;
    let half = share(
        &gw,
        n,
        |o| matches!(o, Outcome::Forward(p) if p.mirrors.contains(&"half")),
    );
    assert!((half - 0.5).abs() < 0.02, "{half}");
}

fn cors_gw(extra: Value) -> portcullis_core::Gateway {
    let mut cors = json!({
        "allowOrigins": [{"exact": "https://app.example.com"}, {"regex": "https://.*\\.dev\\.example\\.com"}],
        "allowMethods": ["GET", "POST"],
        "allowHeaders": ["x-a", "x-b"],
        "exposeHeaders": ["x-c"],
        "maxAgeS": 600,
        "allowCredentials": true
    });
    if let (Some(c), Some(e)) = (cors.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    routes(vec![with(route("r", json!({}), fwd("c")), "cors", cors)])
}

fn preflight(origin: &str) -> Req {
    get("h", "/api")
        .method("OPTIONS")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
}

/// V-24: a preflight from an allowed origin is answered locally with the policy's headers.
#[test]
fn v24_cors_preflight_allowed() {
    let gw = cors_gw(json!({}));
    for origin in ["https://app.example.com", "https://x.dev.example.com"] {
        match decide(&gw, &preflight(origin)).outcome {
            Outcome::CorsPreflight { headers } => assert_eq!(
                headers,
                vec![
                    ("access-control-allow-origin", origin.to_string()),
                    ("access-control-allow-credentials", "true".to_string()),
                    ("access-control-allow-methods", "GET,POST".to_string()),
                    ("access-control-allow-headers", "x-a,x-b".to_string()),
                    ("access-control-max-age", "600".to_string()),
                ]
            ),
            other => panic!("{other:?}"),
        }
    }
}

/// V-24: an unmatched preflight is forwarded, unless `unmatchedPreflights: IGNORE`, which answers
/// locally without CORS headers.
#[test]
fn v24_cors_preflight_unmatched() {
    let gw = cors_gw(json!({}));
    let p = plan(&gw, &preflight("https://evil.example"));
    assert!(p.cors_response_headers.is_empty());
    let gw = cors_gw(json!({"ignoreUnmatchedPreflights": true}));
    assert_eq!(
        decide(&gw, &preflight("https://evil.example")).outcome,
        Outcome::CorsPreflight { headers: vec![] }
    );
    // OPTIONS without Access-Control-Request-Method is not a preflight.
    let req = get("h", "/")
        .method("OPTIONS")
        .header("origin", "https://app.example.com");
    assert!(!plan(&gw, &req).cors_response_headers.is_empty());
}

/// V-24: an actual request from an allowed origin gets the CORS response headers.
#[test]
fn v24_cors_actual_request() {
    let gw = cors_gw(json!({}));
    let p = plan(
        &gw,
        &get("h", "/").header("origin", "https://app.example.com"),
    );
    assert_eq!(
        p.cors_response_headers,
        vec![
            (
                "access-control-allow-origin",
                "https://app.example.com".to_string()
            ),
            ("access-control-allow-credentials", "true".to_string()),
            ("access-control-expose-headers", "x-c".to_string()),
        ]
    );
    assert!(p.cors.is_some());
    assert!(
        plan(&gw, &get("h", "/").header("origin", "https://evil"))
            .cors_response_headers
            .is_empty()
    );
    assert!(plan(&gw, &get("h", "/")).cors_response_headers.is_empty());
}

/// V-24: an origin matcher accepting `*` allows every origin (Envoy), echoing the origin.
#[test]
fn v24_cors_star_origin() {
    let cors = json!({"allowOrigins": [{"exact": "*"}]});
    let gw = routes(vec![with(route("r", json!({}), fwd("c")), "cors", cors)]);
    let p = plan(&gw, &get("h", "/").header("origin", "https://any.example"));
    assert_eq!(
        p.cors_response_headers,
        vec![(
            "access-control-allow-origin",
            "https://any.example".to_string()
        )]
    );
}

/// The decision is reproducible: the same entropy gives the same answer.
#[test]
fn deterministic_with_entropy() {
    let gw = routes(vec![route("r", json!({}), weighted(&[1, 1, 1]))]);
    let req = get("h", "/");
    let a: Vec<_> = {
        let mut r = SplitMix64(5);
        (0..50).map(|_| gw.decide(&req.view(), &mut r)).collect()
    };
    let b: Vec<_> = {
        let mut r = SplitMix64(5);
        (0..50).map(|_| gw.decide(&req.view(), &mut r)).collect()
    };
    assert_eq!(a, b);
}

/// G-12: a 421 (Misdirected Request) is opt-in: Istio's guidance is a VirtualService whose
/// fault aborts with `httpStatus: 421` at 100%; the filter answers it locally.
#[test]
fn g12_misdirected_request_via_fault_abort() {
    let gw = fault_gw(json!({"abort": {"httpStatus": 421, "percentage": 100.0}}));
    let decision = gw.decide(&get("h", "/").view(), &mut SplitMix64(1));
    assert_eq!(
        decision.outcome,
        Outcome::Abort {
            status: 421,
            grpc_status: None
        },
        "{decision:?}"
    );
    assert_eq!(decision.evidence.route, Some("r"));
}

/// S-8: a route or destination header operation on the cluster header or an `x-envoy-*`
/// control header is refused when the config is loaded, so no configuration can choose the
/// cluster, timeout or retries by the back door.
#[test]
fn s8_reserved_headers_are_refused() {
    let cases = [
        (
            json!({"request": {"set": {"x-portcullis-cluster": "other"}}}),
            "headers.request.set",
        ),
        (
            json!({"request": {"add": {"x-envoy-max-retries": "9"}}}),
            "headers.request.add",
        ),
        (
            json!({"request": {"remove": ["x-envoy-upstream-rq-timeout-ms"]}}),
            "headers.request.remove",
        ),
        (
            json!({"response": {"set": {"x-envoy-upstream-service-time": "0"}}}),
            "headers.response.set",
        ),
    ];
    for (ops, field) in cases {
        let r = with(route("r", json!({}), fwd("c")), "headers", ops);
        let err = refused(config(vec![listener(
            80,
            vec![server("ns/gw/http", &["*"])],
            vec![vhost("all", &["*"], vec![r])],
        )]));
        assert!(err.contains(field) && err.contains("reserved"), "{err}");
    }
    let per_destination = json!({"route": {"destinations": [{
        "cluster": "c", "weight": 100,
        "headers": {"request": {"set": {"X-Portcullis-Cluster": "other"}}}
    }]}});
    let err = refused(config(vec![listener(
        80,
        vec![server("ns/gw/http", &["*"])],
        vec![vhost(
            "all",
            &["*"],
            vec![route("r", json!({}), per_destination)],
        )],
    )]));
    assert!(
        err.contains("action.route.destinations[0].headers.request.set"),
        "{err}"
    );
    // Other headers stay configurable.
    let fine = with(
        route("r", json!({}), fwd("c")),
        "headers",
        json!({"request": {"set": {"x-envoyx": "1", "envoy-x": "1", "x-portcullis-other": "1"}}}),
    );
    let _ = routes(vec![fine]);
}
