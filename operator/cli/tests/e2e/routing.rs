//! Every routing feature through a real Envoy with the router filter, one gateway for all:
//! host wildcards, match types in declaration order, weights, redirect, rewrite, direct
//! response, header operations, fault abort and delay. Each check asserts what the client got
//! and, where a request goes upstream, what the upstream received (the echo JSON).

use std::time::{Duration, Instant};

use crate::support::http::get;
use crate::support::*;
use portcullis::local::LocalGateway;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::{Value, json};

fn to(cluster: &str) -> Value {
    json!({ "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } })
}

fn route(name: &str, matcher: Value, action: Value) -> Value {
    json!({ "name": name, "match": matcher, "action": action })
}

async fn gateway() -> (LocalGateway, u16) {
    let (bind, a, b, c) = (free_port(), free_port(), free_port(), free_port());
    let wire = wire(json!({
        "version": 1,
        "configVersion": "routing",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": [
                { "name": "wild", "domains": ["*.wild.example.com"], "routes": [
                    { "name": "wild", "action": to("a") }
                ]},
                { "name": "match", "domains": ["match.example.com"], "routes": [
                    route("exact", json!({ "uri": { "exact": "/exact" } }), to("a")),
                    route("prefix", json!({ "uri": { "prefix": "/prefix" } }), to("b")),
                    route("regex", json!({ "uri": { "regex": "/re/[0-9]+" } }), to("c")),
                    route("header", json!({ "headers": { "x-user": { "exact": "jason" } } }), to("b")),
                    route("method", json!({ "method": { "exact": "POST" } }), to("c")),
                    route("query", json!({ "queryParams": { "v": { "exact": "2" } } }), to("a")),
                    route("fallback", json!({}), json!({ "directResponse": { "status": 418, "body": "teapot" } })),
                ]},
                { "name": "features", "domains": ["features.example.com"], "routes": [
                    route("redirect", json!({ "uri": { "prefix": "/redirect" } }),
                        json!({ "redirect": { "uri": "/new", "authority": "elsewhere.example.com", "code": 301 } })),
                    route("moved", json!({ "uri": { "prefix": "/moved" } }),
                        json!({ "redirect": { "prefixRewrite": "/current", "code": 302 } })),
                    route("rewrite", json!({ "uri": { "prefix": "/rewrite" } }),
                        json!({ "route": { "destinations": [{ "cluster": "a", "weight": 100 }],
                                           "rewrite": { "uri": "/rewritten", "authority": "rewritten.example.com" } } })),
                    route("direct", json!({ "uri": { "prefix": "/direct" } }),
                        json!({ "directResponse": { "status": 200, "body": "hello" } })),
                    route("binary", json!({ "uri": { "prefix": "/binary" } }),
                        json!({ "directResponse": { "status": 200, "bodyBase64": "AP8Kw6kA" } })),
                    route("authority", json!({ "uri": { "prefix": "/authority" } }),
                        json!({ "route": { "destinations": [
                            { "cluster": "a", "weight": 50, "authority": "a.internal" },
                            { "cluster": "b", "weight": 50 }
                        ] } })),
                    { "name": "headers", "match": { "uri": { "prefix": "/headers" } }, "action": to("a"),
                      "headers": {
                          "request": { "set": { "x-set": "1" }, "add": { "x-add": "2" }, "remove": ["x-remove"] },
                          "response": { "set": { "x-resp": "3" } },
                      } },
                    { "name": "abort", "match": { "uri": { "prefix": "/abort" } }, "action": to("a"),
                      "fault": { "abort": { "httpStatus": 503, "percentage": 100.0 } } },
                    { "name": "delay", "match": { "uri": { "prefix": "/delay" } }, "action": to("a"),
                      "fault": { "delay": { "fixedDelayMs": 300, "percentage": 100.0 } } },
                    route("weights", json!({ "uri": { "prefix": "/weights" } }),
                        json!({ "route": { "destinations": [
                            { "cluster": "a", "weight": 50 }, { "cluster": "b", "weight": 50 }
                        ] } })),
                ]},
            ],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![
            local_cluster("a", a),
            local_cluster("b", b),
            local_cluster("c", c),
        ],
    };
    (start(wire, plan).await, bind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_features() {
    let (gw, port) = gateway().await;

    // Host wildcard (G-9): any depth under the suffix, port ignored; the suffix itself is not.
    for host in [
        "x.wild.example.com",
        "a.b.wild.example.com",
        "X.Wild.Example.com:8080",
    ] {
        let r = get(host, "/").send(port).await;
        assert_eq!(
            (r.status, r.upstream().as_str()),
            (200, "a"),
            "{host}: {r:?}"
        );
    }
    assert_eq!(get("wild.example.com", "/").send(port).await.status, 404);

    // Match types, first match wins in declaration order.
    let m = "match.example.com";
    let cases = [
        (get(m, "/exact"), "a"),
        (get(m, "/prefix/deeper"), "b"),
        (get(m, "/re/42"), "c"),
        (get(m, "/exact").header("x-user", "jason"), "a"), // exact is declared before header
        (get(m, "/other").header("x-user", "jason"), "b"),
        (get(m, "/other").method("POST"), "c"),
        (get(m, "/other?v=2"), "a"),
    ];
    for (req, want) in cases {
        let r = req.send(port).await;
        assert_eq!(
            (r.status, r.upstream().as_str()),
            (200, want),
            "{req:?}: {r:?}"
        );
        assert_eq!(
            r.echo()["path"].as_str().unwrap(),
            req.path,
            "path reaches the upstream unchanged"
        );
    }
    let r = get(m, "/re/abc").send(port).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (418, "teapot"),
        "regex is anchored; fallback answers"
    );

    let f = "features.example.com";
    // Redirect: no upstream, Location built from the rule.
    let r = get(f, "/redirect/x").send(port).await;
    assert_eq!(r.status, 301, "{r:?}");
    let location = r.header("location").unwrap();
    assert!(
        location.contains("elsewhere.example.com") && location.ends_with("/new"),
        "{location}"
    );
    // A prefix redirect swaps the matched prefix and keeps the rest and the query (V-19).
    let r = get(f, "/moved/a/b?page=2").send(port).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("http://features.example.com/current/a/b?page=2")
    );

    // Rewrite: the upstream sees the new path and authority.
    let r = get(f, "/rewrite").send(port).await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "a"), "{r:?}");
    assert_eq!(r.echo()["path"], "/rewritten");
    assert_eq!(
        r.upstream_header("host").as_deref(),
        Some("rewritten.example.com")
    );

    // Direct response.
    let r = get(f, "/direct").send(port).await;
    assert_eq!(
        (r.status, r.body.as_str(), r.upstream().as_str()),
        (200, "hello", "")
    );

    // A body that is not UTF-8 is answered byte for byte (V-20).
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-H", &format!("host: {f}")])
        .arg(format!("http://127.0.0.1:{port}/binary"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, [0x00, 0xff, 0x0a, 0xc3, 0xa9, 0x00]);

    // A destination's own authority reaches only that destination (V-22).
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = get(f, "/authority").send(port).await;
        assert_eq!(r.status, 200, "{r:?}");
        seen.insert((r.upstream(), r.upstream_header("host")));
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("a".to_string(), Some("a.internal".to_string())),
            ("b".to_string(), Some(f.to_string()))
        ]
    );

    // Header operations on the request (seen upstream) and on the response.
    let r = get(f, "/headers")
        .header("x-remove", "gone")
        .header("x-set", "old")
        .send(port)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.upstream_header("x-set").as_deref(), Some("1"));
    assert_eq!(r.upstream_header("x-add").as_deref(), Some("2"));
    assert_eq!(r.upstream_header("x-remove"), None);
    assert_eq!(r.header("x-resp"), Some("3"));

    // Fault abort: 503 without reaching the upstream.
    let r = get(f, "/abort").send(port).await;
    assert_eq!((r.status, r.upstream().as_str()), (503, ""), "{r:?}");

    // Fault delay: answered by the upstream, at least 300 ms later.
    let t = Instant::now();
    let r = get(f, "/delay").send(port).await;
    assert_eq!((r.status, r.upstream().as_str()), (200, "a"), "{r:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    // Weights 50/50 over 200 requests: both sides well represented.
    let mut a = 0;
    for _ in 0..200 {
        let r = get(f, "/weights").send(port).await;
        assert_eq!(r.status, 200);
        a += usize::from(r.upstream() == "a");
    }
    assert!((60..=140).contains(&a), "a got {a} of 200");

    finish(gw).await;
}
