//! Native decision time: host selection as the number of hosts grows (must stay ~flat, the
//! host index is hashed) and route selection as one vhost's route list grows, for the first
//! and the last route (must stay ~flat too: the path index yields the candidate routes in
//! declaration order, so first-match order is kept without scanning every route before).
#![allow(
    clippy::panic,
    reason = "a bench whose config is refused must stop, not measure nothing"
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis_core::wire::{
    Action, Destination, Forward, Listener, Route, RouteMatch, Server, StringMatch, ValueMatch,
    VirtualHost, WireConfig,
};
use portcullis_core::{Gateway, Headers, Outcome, RequestView, SplitMix64};

fn forward(cluster: String) -> Action {
    Action::Route(Forward {
        destinations: vec![Destination {
            cluster,
            weight: 100,
            headers: Default::default(),
            authority: None,
        }],
        rewrite: None,
    })
}

fn route(name: String, matcher: RouteMatch, cluster: String) -> Route {
    Route {
        name,
        virtual_service: "bench/vs".into(),
        matcher,
        action: forward(cluster),
        headers: Default::default(),
        fault: None,
        mirrors: Vec::new(),
        timeout_ms: None,
        retries: None,
        cors: None,
    }
}

fn uri(m: StringMatch) -> RouteMatch {
    RouteMatch {
        uri: Some(m),
        ..RouteMatch::default()
    }
}

/// A few realistic routes: exact, regex, header-gated prefix, catch-all.
fn few_routes(host: usize) -> Vec<Route> {
    let mut headers = BTreeMap::new();
    headers.insert("x-canary".to_string(), ValueMatch::Exact("1".into()));
    vec![
        route(
            format!("h{host}-health"),
            uri(StringMatch::Exact("/healthz".into())),
            "c".into(),
        ),
        route(
            format!("h{host}-item"),
            uri(StringMatch::Regex(r"/items/\d+".into())),
            "c".into(),
        ),
        route(
            format!("h{host}-canary"),
            RouteMatch {
                headers,
                ..uri(StringMatch::Prefix("/api".into()))
            },
            "canary".into(),
        ),
        route(
            format!("h{host}-api"),
            uri(StringMatch::Prefix("/api".into())),
            format!("c{host}"),
        ),
        route(
            format!("h{host}-all"),
            RouteMatch::default(),
            "default".into(),
        ),
    ]
}

fn config(vhosts: Vec<VirtualHost>, server_hosts: Vec<String>) -> Gateway {
    let wire = WireConfig {
        version: 1,
        config_version: "bench".into(),
        listeners: vec![Listener {
            port: 80,
            bind_port: None,
            servers: vec![Server {
                name: "bench/gw/http".into(),
                hosts: server_hosts,
                https_redirect: false,
                tls: false,
                virtual_hosts: Vec::new(),
                filter_chain: None,
            }],
            virtual_hosts: vhosts,
        }],
        egress: None,
    };
    match Gateway::compile(&wire) {
        Ok(gw) => gw,
        Err(e) => panic!("bench config refused: {e}"),
    }
}

fn hosts_gateway(n: usize) -> Gateway {
    let vhosts = (0..n)
        .map(|i| VirtualHost {
            name: format!("host{i}"),
            domains: vec![format!("host{i}.example.com")],
            require_tls: false,
            routes: few_routes(i),
        })
        .collect();
    config(vhosts, vec!["*.example.com".into()])
}

fn routes_gateway(n: usize) -> Gateway {
    let routes = (0..n)
        .map(|i| {
            route(
                format!("r{i}"),
                uri(StringMatch::Prefix(format!("/r{i}/"))),
                format!("c{i}"),
            )
        })
        .collect();
    let vhost = VirtualHost {
        name: "one".into(),
        domains: vec!["one.example.com".into()],
        require_tls: false,
        routes,
    };
    config(vec![vhost], vec!["*".into()])
}

/// Two headers, looked up the way a filter's header map would be.
struct BenchHeaders;

impl Headers for BenchHeaders {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "x-canary" => Some("0"),
            "user-agent" => Some("bench"),
            _ => None,
        }
    }
}

fn decide(gw: &Gateway, authority: &str, path: &str) -> bool {
    let headers = &BenchHeaders;
    let req = RequestView {
        bind_port: 80,
        authority,
        path,
        method: "GET",
        scheme: "http",
        tls: false,
        sni: None,
        filter_chain: None,
        headers,
    };
    matches!(
        gw.decide(&req, &mut SplitMix64(1)).outcome,
        Outcome::Forward(_)
    )
}

fn bench_hosts(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_hosts");
    for n in [10, 1_000, 10_000] {
        let gw = hosts_gateway(n);
        let host = format!("Host{}.example.com:8080", n - 1);
        assert!(decide(&gw, &host, "/api/v1?x=1"));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| decide(black_box(&gw), black_box(&host), black_box("/api/v1?x=1")))
        });
    }
    group.finish();
}

fn bench_routes(c: &mut Criterion) {
    for (group_name, which) in [
        ("decide_routes_first_matches", 0),
        ("decide_routes_last_matches", 1),
    ] {
        let mut group = c.benchmark_group(group_name);
        for n in [10, 1_000, 10_000] {
            let gw = routes_gateway(n);
            let path = format!("/r{}/x", which * (n - 1));
            assert!(decide(&gw, "one.example.com", &path));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    decide(
                        black_box(&gw),
                        black_box("one.example.com"),
                        black_box(&path),
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_hosts, bench_routes);
criterion_main!(benches);
