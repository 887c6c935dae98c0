//! The request-path cost of regexes at their bound (S-4): the costliest patterns the compile
//! step accepts, matched against the largest path, or header value, Envoy lets through (60 KiB,
//! its default `max_request_headers_kb`), one request per iteration through `Gateway::decide`.
//!
//! `regex-lite` is a Pike VM: a match costs (input bytes) × (threads alive), and patterns built
//! from repeated loops keep the most threads alive. For each such family the bench takes the
//! largest repetition count that still compiles under the size limit, so the figures follow the
//! limit wherever it is set. A plain `/.*` pattern gives the floor: one thread over 60 KiB.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "a bench whose config is refused must stop, not measure nothing"
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use portcullis_core::strmatch::full_match_regex;
use portcullis_core::wire::{
    Action, Destination, Forward, Listener, Route, RouteMatch, Server, StringMatch, ValueMatch,
    VirtualHost, WireConfig,
};
use portcullis_core::{Gateway, Headers, Outcome, RequestView, SplitMix64};

/// Envoy's default limit on request headers (path included), 60 KiB.
const INPUT: usize = 60 * 1024;

/// The costliest pattern of a family `k ↦ pattern` that the compile step accepts.
fn largest(family: impl Fn(usize) -> String) -> (usize, String) {
    let (mut lo, mut hi) = (0usize, 1 << 20);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if full_match_regex(&family(mid)).is_ok() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    assert!(lo > 0, "no pattern of the family compiles: {}", family(1));
    (lo, family(lo))
}

/// Patterns that keep the most threads alive over an input of `a`s, each at its largest.
fn worst_patterns() -> Vec<(String, String)> {
    type Family = (&'static str, fn(usize) -> String);
    let families: [Family; 3] = [
        ("(?:.*a){k}", |k| format!("(?:.*a){{{k}}}")),
        ("(?:a*){k}", |k| format!("(?:a*){{{k}}}")),
        ("(?:a*|b){k}", |k| format!("(?:a*|b){{{k}}}")),
    ];
    let mut out = vec![("floor .*".to_string(), ".*".to_string())];
    for (name, family) in families {
        let (k, pattern) = largest(family);
        out.push((name.replace('k', &k.to_string()), pattern));
    }
    out
}

/// One route that needs `pattern` to match the path (as `/` + pattern) or header `x-big`.
fn gateway(pattern: &str, on_header: bool) -> Gateway {
    let mut matcher = RouteMatch::default();
    if on_header {
        let mut headers = BTreeMap::new();
        headers.insert("x-big".to_string(), ValueMatch::Regex(pattern.into()));
        matcher.headers = headers;
    } else {
        matcher.uri = Some(StringMatch::Regex(format!("/{pattern}")));
    }
    let wire = WireConfig {
        version: 1,
        config_version: "bench".into(),
        listeners: vec![Listener {
            port: 80,
            bind_port: None,
            servers: vec![Server {
                name: "bench/gw/http".into(),
                hosts: vec!["*".into()],
                https_redirect: false,
                tls: false,
                filter_chain: None,
                virtual_hosts: Vec::new(),
            }],
            virtual_hosts: vec![VirtualHost {
                name: "one".into(),
                domains: vec!["*".into()],
                require_tls: false,
                routes: vec![Route {
                    name: "worst".into(),
                    virtual_service: "bench/vs".into(),
                    matcher,
                    action: Action::Route(Forward {
                        destinations: vec![Destination {
                            cluster: "c".into(),
                            weight: 100,
                            headers: Default::default(),
                            authority: None,
                        }],
                        rewrite: None,
                    }),
                    headers: Default::default(),
                    fault: None,
                    mirrors: Vec::new(),
                    timeout_ms: None,
                    retries: None,
                    cors: None,
                }],
            }],
        }],
        egress: None,
    };
    match Gateway::compile(&wire) {
        Ok(gw) => gw,
        Err(e) => panic!("bench config refused: {e}"),
    }
}

struct BigHeader<'a>(&'a str);

impl Headers for BigHeader<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        (name == "x-big").then_some(self.0)
    }
}

fn decide(gw: &Gateway, path: &str, header: &str) -> bool {
    let headers = &BigHeader(header);
    let req = RequestView {
        bind_port: 80,
        authority: "bench.example.com",
        path,
        method: "GET",
        scheme: "http",
        sni: None,
        filter_chain: None,
        tls: false,
        headers,
    };
    matches!(
        gw.decide(&req, &mut SplitMix64(1)).outcome,
        Outcome::Forward(_)
    )
}

fn bench_worst_case(c: &mut Criterion) {
    let big = "a".repeat(INPUT - 1);
    let path = format!("/{big}");
    let mut group = c.benchmark_group("regex_worst_case_60KiB");
    // Iterations take up to seconds: ten samples of one iteration each is plenty.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(std::time::Duration::from_millis(500));
    for (name, pattern) in worst_patterns() {
        for on_header in [false, true] {
            let gw = gateway(&pattern, on_header);
            let (p, h) = if on_header {
                ("/", big.as_str())
            } else {
                (path.as_str(), "")
            };
            assert!(decide(&gw, p, h), "{name} does not match");
            let id = format!("{name} on {}", if on_header { "header" } else { "path" });
            group.bench_with_input(BenchmarkId::from_parameter(id), &(), |b, ()| {
                b.iter(|| decide(black_box(&gw), black_box(p), black_box(h)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_worst_case);
criterion_main!(benches);
