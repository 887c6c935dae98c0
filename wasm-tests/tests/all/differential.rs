//! Differential test: the router .wasm in the host against `portcullis_core::Gateway::decide`
//! run natively, over a seeded corpus of wire configs (wildcard hosts, assorted matchers,
//! weighted destinations, rewrites, redirects, direct responses) and requests. Only the
//! deterministic part is compared: the local status (and Location or body), or the upstream
//! cluster (a member of the chosen route's positive-weight destinations, since the filter draws
//! weights from its own clock-seeded entropy) with the rewritten `:path` and `:authority`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code fails loudly with the case"
)]

use portcullis_core::config::WireConfig;
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
                .map(|i| json!({"cluster": cluster(&format!("c{}", g.below(6))), "weight": if i == 0 { 1 + g.below(50) } else { g.below(50) }}))
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
                    json!({"name": format!("r{route_no}"), "match": matcher(g), "action": action(g, route_no)})
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
    let path = if g.chance(15) {
        "/api/v1/items?x=1"
    } else {
        *g.pick(&PATHS)
    };
    Request {
        method: if g.chance(20) { "POST" } else { "GET" },
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

/// What the native decision predicts, reduced to its deterministic part.
fn native(gateway: &Gateway, config: &Value, r: &Request) -> String {
    let view = RequestView {
        bind_port: 80,
        authority: r.authority,
        path: r.path,
        method: r.method,
        scheme: r.scheme,
        sni: None,
        headers: &r.headers,
    };
    let decision = gateway.decide(&view, &mut SplitMix64(7));
    match decision.outcome {
        Outcome::Forward(plan) => {
            let mut set = possible_clusters(config, decision.evidence.route.unwrap());
            set.sort();
            set.dedup();
            format!(
                "forward {set:?} path={} authority={}",
                plan.path.as_deref().unwrap_or(r.path),
                plan.authority.unwrap_or(r.authority)
            )
        }
        Outcome::Refused(refusal) => format!("local {}", refusal.status()),
        Outcome::Redirect {
            status, location, ..
        } => format!("local {status} location={location}"),
        Outcome::DirectResponse { status, body, .. } => format!("local {status} body={body}"),
        other => format!("unexpected {other:?}"),
    }
}

/// What the .wasm did, in the same form (the cluster checked against the native set).
fn wasm(host: &mut portcullis_wasm_tests::Host, r: &Request, expected: &str) -> String {
    let mut req = host
        .http_request()
        .header(":method", r.method)
        .header(":scheme", r.scheme)
        .header(":path", r.path)
        .header(":authority", r.authority);
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let s = req.send_headers_only().unwrap();
    let out = match s.local_response() {
        Some(l) => {
            let find = |n: &str| {
                l.headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            };
            match (find("location"), l.body.is_empty()) {
                (Some(loc), _) => format!("local {} location={loc}", l.status),
                (None, false) => format!("local {} body={}", l.status, l.body_str()),
                (None, true) => format!("local {}", l.status),
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
            format!(
                "forward {set} path={} authority={}",
                get(":path"),
                get(":authority")
            )
        }
    };
    s.finish();
    out
}

/// Every case of the corpus agrees; the corpus size and agreement are printed.
#[test]
fn router_wasm_agrees_with_the_native_gateway_decision() {
    let mut g = Gen(SplitMix64(0xd1ff));
    let (mut cases, mut agreed) = (0usize, 0usize);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..CONFIGS {
        let config = config(&mut g, i);
        let wire = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
        let gateway =
            Gateway::compile(&wire).unwrap_or_else(|e| panic!("config {i}: {e}\n{config:#}"));
        let mut host = router(&config);
        for _ in 0..REQUESTS_PER_CONFIG {
            let r = request(&mut g);
            let expected = native(&gateway, &config, &r);
            let got = wasm(&mut host, &r, &expected);
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
        }
        assert!(
            host.failures().is_empty(),
            "config {i}: {:?}",
            host.failures()
        );
    }
    println!(
        "differential: {agreed}/{cases} cases agree ({CONFIGS} configs x {REQUESTS_PER_CONFIG} requests); outcomes {outcomes:?}"
    );
}
