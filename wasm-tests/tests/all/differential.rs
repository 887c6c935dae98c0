//! Differential test: the router .wasm in the host against `portcullis_core::Gateway::decide`
//! run natively, over a seeded corpus of wire configs (wildcard hosts, assorted matchers,
//! weighted destinations, rewrites, redirects, direct responses, request and response header
//! operations, fault aborts at 0 % and 100 %, CORS policies) and requests (CORS preflights and
//! actual requests among them). Only the deterministic part is compared: the local status (and
//! Location or body, and CORS headers), or the upstream cluster (a member of the chosen route's
//! positive-weight destinations, since the filter draws weights from its own clock-seeded
//! entropy) with the rewritten `:path` and `:authority`, the request headers the upstream
//! receives and the response headers the client gets (the corpus' header names only).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code fails loudly with the case"
)]

use std::collections::BTreeMap;

use portcullis_core::wire::{HeaderOperations, WireConfig};
use portcullis_core::{Entropy, Gateway, Outcome, RequestView, SplitMix64};
use serde_json::{Value, json};

use crate::fixtures::{cluster, router};

const CONFIGS: usize = 250;
const REQUESTS_PER_CONFIG: usize = 40;

/// A seeded generator over the core's SplitMix64.
struct Gen(SplitMix64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u32() as usize) % n
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SERVER_HOSTS: [&str; 7] = [
    "api.example.com",
    "*.example.com",
    "shop.test",
    "*.svc.cluster.local",
    "*",
    "a.b.example.com",
    "*.b.example.com",
];
const DOMAINS: [&str; 7] = [
    "api.example.com",
    "*.example.com",
    "shop.test",
    "*",
    "api.*",
    "*.svc.cluster.local",
    "a.b.example.com",
];
const AUTHORITIES: [&str; 11] = [
    "api.example.com",
    "API.Example.com:80",
    "www.example.com",
    "shop.test:8080",
    "reviews.default.svc.cluster.local",
    "a.b.example.com",
    "x.b.example.com",
    "api.other.org",
    "unknown.org",
    "example.com",
    "api.example.com.",
];
const PATHS: [&str; 10] = [
    "/",
    "/api/v1/items",
    "/API/v1/items?x=1",
    "/static/app.js",
    "/users/42",
    "/users/42/edit",
    "/login?next=/home",
    "/apiary",
    "/health",
    "/api",
];
const PREFIXES: [&str; 5] = ["/", "/api", "/api/", "/static/", "/users/"];
const EXACTS: [&str; 4] = ["/health", "/login", "/api", "/users/42"];
const REGEXES: [&str; 3] = ["/users/[0-9]+", "/(api|static)/.*", ".*\\.js"];
/// The header names header operations touch (and requests and upstream answers carry);
/// the only ones compared.
const OP_HEADERS: [&str; 4] = ["x-channel", "x-debug", "x-tag", "x-env"];
const ORIGINS: [&str; 3] = [
    "https://app.example.com",
    "https://evil.example.com",
    "https://app.example.com.evil.org",
];

/// A random set of header operations over [`OP_HEADERS`].
fn ops(g: &mut Gen) -> Value {
    let mut o = serde_json::Map::new();
    for (key, chance) in [("set", 50), ("add", 50)] {
        if g.chance(chance) {
            let m: serde_json::Map<String, Value> = (0..1 + g.below(2))
                .map(|_| {
                    (
                        g.pick(&OP_HEADERS).to_string(),
                        json!(g.pick(&["one", "two", "beta"])),
                    )
                })
                .collect();
            o.insert(key.into(), Value::Object(m));
        }
    }
    if g.chance(40) {
        o.insert("remove".into(), json!([g.pick(&OP_HEADERS)]));
    }
    Value::Object(o)
}

/// Header operations, a fault abort at 0 % or 100 %, and a CORS policy on a forward route.
fn route_extras(g: &mut Gen, route: &mut Value) {
    if g.chance(35) {
        let mut h = serde_json::Map::new();
        if g.chance(80) {
            h.insert("request".into(), ops(g));
        }
        if g.chance(50) {
            h.insert("response".into(), ops(g));
        }
        route["headers"] = Value::Object(h);
    }
    if g.chance(15) {
        let percentage = if g.chance(50) { 0.0 } else { 100.0 };
        route["fault"] =
            json!({"abort": {"httpStatus": *g.pick(&[400, 429, 503]), "percentage": percentage}});
    }
    if g.chance(30) {
        let origin = match g.below(3) {
            0 => json!({"exact": "https://app.example.com"}),
            1 => json!({"prefix": "https://app."}),
            _ => json!({"regex": "https://[a-z]+\\.example\\.com"}),
        };
        let mut cors = json!({"allowOrigins": [origin], "allowMethods": ["GET", "POST"]});
        if g.chance(50) {
            cors["allowHeaders"] = json!(["x-token", "x-tag"]);
        }
        if g.chance(50) {
            cors["exposeHeaders"] = json!(["x-trace"]);
        }
        if g.chance(50) {
            cors["maxAgeS"] = json!(600);
        }
        if g.chance(50) {
            cors["allowCredentials"] = json!(g.chance(50));
        }
        if g.chance(50) {
            cors["ignoreUnmatchedPreflights"] = json!(g.chance(50));
        }
        route["cors"] = cors;
    }
}

fn matcher(g: &mut Gen) -> Value {
    let mut m = serde_json::Map::new();
    match g.below(4) {
        0 => {}
        1 => drop(m.insert("uri".into(), json!({"prefix": g.pick(&PREFIXES)}))),
        2 => drop(m.insert("uri".into(), json!({"exact": g.pick(&EXACTS)}))),
        _ => drop(m.insert("uri".into(), json!({"regex": g.pick(&REGEXES)}))),
    }
    if g.chance(20) {
        m.insert("ignoreUriCase".into(), json!(true));
    }
    if g.chance(15) {
        m.insert("method".into(), json!({"exact": g.pick(&["GET", "POST"])}));
    }
    if g.chance(20) {
        let v = match g.below(3) {
            0 => json!({"exact": "beta"}),
            1 => json!({"prefix": "be"}),
            _ => json!({"present": true}),
        };
        m.insert("headers".into(), json!({"x-channel": v}));
    }
    if g.chance(10) {
        m.insert(
            "withoutHeaders".into(),
            json!({"x-debug": {"present": true}}),
        );
    }
    if g.chance(10) {
        m.insert("queryParams".into(), json!({"x": {"exact": "1"}}));
    }
    Value::Object(m)
}

fn action(g: &mut Gen, route_no: usize) -> Value {
    match g.below(10) {
        0 => json!({"redirect": {"uri": "/moved", "code": *g.pick(&[301, 302, 308])}}),
        1 => json!({"redirect": {"authority": "new.example.com", "scheme": "https"}}),
        2 => {
            json!({"directResponse": {"status": *g.pick(&[200, 403, 503]), "body": format!("direct {route_no}")}})
        }
        _ => {
            let n = 1 + g.below(3);
            let dests: Vec<Value> = (0..n)
                .map(|i| {
                    let mut d = json!({"cluster": cluster(&format!("c{}", g.below(6))), "weight": if i == 0 { 1 + g.below(50) } else { g.below(50) }});
                    if g.chance(20) {
                        d["headers"] = json!({"request": ops(g), "response": ops(g)});
                    }
                    d
                })
                .collect();
            let mut forward = json!({"destinations": dests});
            if g.chance(25) {
                forward["rewrite"] = json!({"uri": g.pick(&["/", "/v2/", "/rewritten"])});
            }
            if g.chance(15) {
                forward["rewrite"]["authority"] = json!("backend.internal");
            }
            if g.chance(10) {
                forward["rewrite"] =
                    json!({"uriRegex": {"pattern": "[0-9]+", "substitution": "N"}});
            }
            json!({"route": forward})
        }
    }
}

fn config(g: &mut Gen, index: usize) -> Value {
    let servers: Vec<Value> = (0..1 + g.below(2))
        .map(|s| {
            let mut hosts: Vec<&str> = (0..1 + g.below(3))
                .map(|_| *g.pick(&SERVER_HOSTS))
                .collect();
            // Most gateways serve broadly enough that routing, not the host, decides.
            if s == 0 && g.chance(60) {
                hosts.push("*");
            }
            json!({"name": format!("ns/gw/s{s}"), "hosts": hosts, "httpsRedirect": g.chance(10)})
        })
        .collect();
    let mut unused: Vec<&str> = DOMAINS.to_vec();
    let mut route_no = 0;
    let vhosts: Vec<Value> = (0..1 + g.below(3))
        .map(|v| {
            let mut domains: Vec<&str> = Vec::new();
            for _ in 0..1 + g.below(2) {
                if !unused.is_empty() {
                    domains.push(unused.remove(g.below(unused.len())));
                }
            }
            if let Some(at) = unused.iter().position(|d| *d == "*").filter(|_| g.chance(50)) {
                domains.push(unused.remove(at));
            }
            let routes: Vec<Value> = (0..1 + g.below(5))
                .map(|_| {
                    route_no += 1;
                    let mut r = json!({"name": format!("r{route_no}"), "match": matcher(g), "action": action(g, route_no)});
                    if r["action"].get("route").is_some() {
                        route_extras(g, &mut r);
                    }
                    r
                })
                .collect();
            json!({"name": format!("vh{v}"), "domains": domains, "routes": routes, "requireTls": g.chance(5)})
        })
        .collect();
    json!({"version": 1, "configVersion": format!("sha256:diff{index}"),
        "listeners": [{"port": 80, "servers": servers, "virtualHosts": vhosts}]})
}

struct Request {
    method: &'static str,
    scheme: &'static str,
    authority: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
}

fn request(g: &mut Gen) -> Request {
    let mut headers = Vec::new();
    if g.chance(40) {
        headers.push((
            "x-channel".to_string(),
            g.pick(&["beta", "best", "stable"]).to_string(),
        ));
    }
    if g.chance(15) {
        headers.push(("x-debug".to_string(), "1".to_string()));
    }
    if g.chance(30) {
        headers.push(("x-tag".to_string(), "orig".to_string()));
        if g.chance(30) {
            headers.push(("x-tag".to_string(), "orig2".to_string()));
        }
    }
    let cors = g.below(100);
    if cors < 30 {
        headers.push(("origin".to_string(), g.pick(&ORIGINS).to_string()));
    }
    // A preflight: OPTIONS with an Origin and Access-Control-Request-Method.
    let preflight = cors < 15;
    if preflight {
        headers.push((
            "access-control-request-method".to_string(),
            "POST".to_string(),
        ));
    }
    let path = if g.chance(15) {
        "/api/v1/items?x=1"
    } else {
        *g.pick(&PATHS)
    };
    Request {
        method: if preflight {
            "OPTIONS"
        } else if g.chance(20) {
            "POST"
        } else {
            "GET"
        },
        scheme: if g.chance(20) { "http" } else { "https" },
        authority: AUTHORITIES[g.below(AUTHORITIES.len())],
        path,
        headers,
    }
}

/// The clusters a route (by name) may send to: its positive-weight destinations.
fn possible_clusters(config: &Value, route: &str) -> Vec<String> {
    let vhosts = config["listeners"][0]["virtualHosts"].as_array().unwrap();
    let r = vhosts
        .iter()
        .flat_map(|v| v["routes"].as_array().unwrap())
        .find(|r| r["name"] == route)
        .unwrap();
    let dests = r["action"]["route"]["destinations"].as_array().unwrap();
    let positive: Vec<String> = dests
        .iter()
        .filter(|d| d["weight"].as_u64() > Some(0) || dests.len() == 1)
        .map(|d| d["cluster"].as_str().unwrap().to_string())
        .collect();
    positive
}

/// The values of each of [`OP_HEADERS`] in `headers`, in order, as text.
fn op_headers(headers: &[(String, String)]) -> String {
    let mut m = BTreeMap::<&str, Vec<&str>>::new();
    for (k, v) in headers {
        if let Some(name) = OP_HEADERS.iter().find(|n| **n == k.as_str()) {
            m.entry(name).or_default().push(v);
        }
    }
    format!("{m:?}")
}

/// The `access-control-*` headers among `headers`, sorted, as text (empty when none).
fn cors_headers(headers: &[(String, String)]) -> String {
    let mut c: Vec<&(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .collect();
    c.sort();
    if c.is_empty() {
        String::new()
    } else {
        format!(" cors={c:?}")
    }
}

/// Envoy's order for one set of operations: remove, then overwrite, then append.
fn apply(headers: &mut Vec<(String, String)>, ops: &HeaderOperations) {
    for name in &ops.remove {
        headers.retain(|(k, _)| k != name);
    }
    for (name, value) in &ops.set {
        headers.retain(|(k, _)| k != name);
        headers.push((name.clone(), value.clone()));
    }
    for (name, value) in &ops.add {
        headers.push((name.clone(), value.clone()));
    }
}

/// What the upstream answers in the corpus: one header the operations may touch.
const UPSTREAM_RESPONSE: [(&str, &str); 2] = [("x-tag", "upstream"), ("x-env", "prod")];

fn owned(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The request and response headers after `request_ops` and `response_ops` (in order), then
/// the CORS response headers (set), as text.
fn headers_after(
    r: &Request,
    request_ops: &[&HeaderOperations],
    response_ops: &[&HeaderOperations],
    cors: &[(&'static str, String)],
) -> String {
    let mut upstream = r.headers.clone();
    for ops in request_ops {
        apply(&mut upstream, ops);
    }
    let mut response = owned(&UPSTREAM_RESPONSE);
    for ops in response_ops {
        apply(&mut response, ops);
    }
    for (k, v) in cors {
        response.retain(|(n, _)| n != k);
        response.push(((*k).to_string(), v.clone()));
    }
    format!(
        "request={} response={}{}",
        op_headers(&upstream),
        op_headers(&response),
        cors_headers(&response)
    )
}

/// The header operations at `v["headers"][direction]`, empty when absent.
fn ops_at(v: &Value, direction: &str) -> HeaderOperations {
    v.get("headers")
        .and_then(|h| h.get(direction))
        .map(|o| serde_json::from_value(o.clone()).unwrap())
        .unwrap_or_default()
}

/// For each positive-weight destination of `route` (which one the filter draws is not
/// deterministic): the headers after the route's then that destination's operations.
fn per_destination(
    config: &Value,
    route: &str,
    r: &Request,
    cors: &[(&'static str, String)],
) -> Vec<String> {
    let vhosts = config["listeners"][0]["virtualHosts"].as_array().unwrap();
    let route = vhosts
        .iter()
        .flat_map(|v| v["routes"].as_array().unwrap())
        .find(|x| x["name"] == route)
        .unwrap();
    let dests = route["action"]["route"]["destinations"].as_array().unwrap();
    let (route_req, route_resp) = (ops_at(route, "request"), ops_at(route, "response"));
    let mut out: Vec<String> = dests
        .iter()
        .filter(|d| d["weight"].as_u64() > Some(0) || dests.len() == 1)
        .map(|d| {
            let (req, resp) = (ops_at(d, "request"), ops_at(d, "response"));
            headers_after(r, &[&route_req, &req], &[&route_resp, &resp], cors)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What the native decision predicts, reduced to its deterministic part: the acceptable
/// outcomes (one per destination when their header operations differ), the one the native
/// decision took first.
fn native(gateway: &Gateway, config: &Value, r: &Request) -> Vec<String> {
    let view = RequestView {
        bind_port: 80,
        authority: r.authority,
        path: r.path,
        method: r.method,
        scheme: r.scheme,
        tls: r.scheme == "https",
        sni: None,
        filter_chain: None,
        headers: &r.headers,
    };
    let decision = gateway.decide(&view, &mut SplitMix64(7));
    let local = match decision.outcome {
        Outcome::Forward(plan) => {
            let mut set = possible_clusters(config, decision.evidence.route.unwrap());
            set.sort();
            set.dedup();
            let route = decision.evidence.route.unwrap();
            let planned = headers_after(
                r,
                &plan.request_headers,
                &plan.response_headers,
                &plan.cors_response_headers,
            );
            let mut tails = per_destination(config, route, r, &plan.cors_response_headers);
            // The native plan itself must be one of them (route first, then destination).
            let Some(at) = tails.iter().position(|t| *t == planned) else {
                return vec![format!(
                    "native plan {planned} is none of the destinations' {tails:?}"
                )];
            };
            tails.swap(0, at);
            let head = format!(
                "forward {set:?} path={} authority={}",
                plan.path.as_deref().unwrap_or(r.path),
                plan.authority.unwrap_or(r.authority)
            );
            return tails.iter().map(|t| format!("{head} {t}")).collect();
        }
        Outcome::Refused(refusal) => format!("local {}", refusal.status()),
        Outcome::Abort {
            status,
            grpc_status: None,
        } => format!("local {status} body=fault filter abort"),
        Outcome::CorsPreflight { headers } => {
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect();
            format!("local 200{}", cors_headers(&headers))
        }
        Outcome::Redirect {
            status, location, ..
        } => format!("local {status} location={location}"),
        Outcome::DirectResponse { status, body, .. } => {
            format!("local {status} body={}", String::from_utf8_lossy(body))
        }
        other => format!("unexpected {other:?}"),
    };
    vec![local]
}

/// What the .wasm did, in the same form (the cluster checked against the native set).
fn wasm(host: &mut portcullis_wasm_tests::Host, r: &Request, expected: &str) -> String {
    let mut req = host
        .http_request()
        .header(":method", r.method)
        .header(":scheme", r.scheme)
        // Envoy sets it from the connection, here of the scheme the request claims.
        .header("x-forwarded-proto", r.scheme)
        .header(":path", r.path)
        .header(":authority", r.authority);
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let mut s = req.send_headers_only().unwrap();
    let out = match s.local_response() {
        Some(l) => {
            let find = |n: &str| {
                l.headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            };
            let cors = cors_headers(&l.headers);
            match (find("location"), l.body.is_empty()) {
                (Some(loc), _) => format!("local {} location={loc}{cors}", l.status),
                (None, false) => format!("local {} body={}{cors}", l.status, l.body_str()),
                (None, true) => format!("local {}{cors}", l.status),
            }
        }
        None => {
            let h = s.request_headers();
            let get = |n: &str| {
                h.iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let cluster = s.upstream_cluster().unwrap_or_default();
            // Accept the native set when the cluster is one of its members.
            let set = expected
                .strip_prefix("forward ")
                .and_then(|rest| rest.split(" path=").next())
                .filter(|set| set.contains(&format!("{cluster:?}")))
                .map_or_else(|| format!("[{cluster:?}]"), str::to_string);
            let (path, authority) = (get(":path"), get(":authority"));
            let request = op_headers(&h);
            s.respond_headers(200, &UPSTREAM_RESPONSE, true);
            let response = s.response_headers();
            format!(
                "forward {set} path={path} authority={authority} request={request} response={}{}",
                op_headers(&response),
                cors_headers(&response)
            )
        }
    };
    s.finish();
    out
}

/// The route (by name) that `r` reaches natively, and its fault abort percentage.
fn abort_percentage(gateway: &Gateway, config: &Value, r: &Request) -> Option<f64> {
    let view = RequestView {
        bind_port: 80,
        authority: r.authority,
        path: r.path,
        method: r.method,
        scheme: r.scheme,
        tls: r.scheme == "https",
        sni: None,
        filter_chain: None,
        headers: &r.headers,
    };
    let name = gateway.decide(&view, &mut SplitMix64(7)).evidence.route?;
    config["listeners"][0]["virtualHosts"]
        .as_array()?
        .iter()
        .flat_map(|v| v["routes"].as_array().into_iter().flatten())
        .find(|x| x["name"] == name)?["fault"]["abort"]["percentage"]
        .as_f64()
}

/// Which of the corpus' features a case exercised (for the coverage check).
fn features(gateway: &Gateway, config: &Value, r: &Request, expected: &str) -> Vec<&'static str> {
    let mut f = Vec::new();
    let forward = expected.starts_with("forward ");
    let preflight = r.method == "OPTIONS";
    let untouched = format!(
        "request={} response={}",
        op_headers(&r.headers),
        op_headers(&owned(&UPSTREAM_RESPONSE))
    );
    if forward && !expected.contains(&untouched) {
        f.push("header operations applied");
    }
    if expected.contains("body=fault filter abort") {
        f.push("abort at 100 %");
    }
    if forward && abort_percentage(gateway, config, r) == Some(0.0) {
        f.push("abort at 0 % forwarded");
    }
    if preflight && expected.starts_with("local 200 cors=") {
        f.push("preflight answered");
    }
    if preflight && expected == "local 200" {
        f.push("unmatched preflight ignored");
    }
    if preflight && forward {
        f.push("preflight forwarded");
    }
    if !preflight && forward && expected.contains(" cors=") {
        f.push("actual CORS request");
    }
    f
}

/// Every case of the corpus agrees; the corpus size and agreement are printed.
#[test]
fn router_wasm_agrees_with_the_native_gateway_decision() {
    let mut g = Gen(SplitMix64(0xd1ff));
    let (mut cases, mut agreed) = (0usize, 0usize);
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut covered = BTreeMap::<&str, usize>::new();
    for i in 0..CONFIGS {
        let config = config(&mut g, i);
        let wire = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
        let gateway =
            Gateway::compile(&wire).unwrap_or_else(|e| panic!("config {i}: {e}\n{config:#}"));
        let mut host = router(&config);
        for _ in 0..REQUESTS_PER_CONFIG {
            let r = request(&mut g);
            let acceptable = native(&gateway, &config, &r);
            let got = wasm(&mut host, &r, &acceptable[0]);
            // The .wasm agrees when it produced one of the acceptable outcomes.
            let expected = acceptable
                .iter()
                .find(|a| **a == got)
                .unwrap_or(&acceptable[0])
                .clone();
            cases += 1;
            let kind = expected.split(' ').take(2).collect::<Vec<_>>().join(" ");
            *outcomes
                .entry(if kind.starts_with("forward") {
                    "forward".into()
                } else {
                    kind
                })
                .or_default() += 1;
            assert_eq!(
                got, expected,
                "config {i} request {} {} {} {}{} headers {:?}\n{config:#}",
                cases, r.method, r.scheme, r.authority, r.path, r.headers
            );
            agreed += 1;
            for f in features(&gateway, &config, &r, &expected) {
                *covered.entry(f).or_default() += 1;
            }
        }
        assert!(
            host.failures().is_empty(),
            "config {i}: {:?}",
            host.failures()
        );
    }
    println!(
        "differential: {agreed}/{cases} cases agree ({CONFIGS} configs x {REQUESTS_PER_CONFIG} requests); outcomes {outcomes:?}; features {covered:?}"
    );
    assert_eq!(agreed, cases);
    // The corpus must exercise every feature it claims to compare.
    for f in [
        "header operations applied",
        "abort at 100 %",
        "abort at 0 % forwarded",
        "preflight answered",
        "unmatched preflight ignored",
        "preflight forwarded",
        "actual CORS request",
    ] {
        assert!(
            covered.get(f).copied().unwrap_or(0) >= 10,
            "{f}: {covered:?}"
        );
    }
}
