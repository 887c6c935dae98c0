//! Host selection at the gateway: Gateway servers and virtual hosts (G-5 … G-13, S-2).

mod common;

use common::*;
use portcullis_core::{HostVerdict, Outcome, Refusal};
use serde_json::json;

fn catch_all(name: &str, cluster: &str) -> serde_json::Value {
    route(name, json!({}), fwd(cluster))
}

/// Servers `*.example.com` and `dev.example.com`; vhosts for `dev`, the wildcard, and `*.com`.
fn wildcard_gateway() -> portcullis_core::Gateway {
    gateway(config(vec![listener(
        80,
        vec![server(
            "ns/gw/http",
            &["dev.example.com", "*.example.com", "*.com", "*"],
        )],
        vec![
            vhost("dev", &["dev.example.com"], vec![catch_all("dev", "c-dev")]),
            vhost(
                "wild",
                &["*.example.com"],
                vec![catch_all("wild", "c-wild")],
            ),
            vhost("com", &["*.com"], vec![catch_all("com", "c-com")]),
            vhost("pre", &["foo.*"], vec![catch_all("pre", "c-pre")]),
            vhost("any", &["*"], vec![catch_all("any", "c-any")]),
        ],
    )]))
}

/// G-9: an exact domain wins.
#[test]
fn g9_exact_host() {
    let gw = wildcard_gateway();
    assert_eq!(
        cluster(&gw, &get("dev.example.com", "/")).as_deref(),
        Some("c-dev")
    );
}

/// G-9: `*.suffix` matches one or more characters, across dots, never the bare suffix; the
/// longest suffix wins.
#[test]
fn g9_suffix_wildcard() {
    let gw = wildcard_gateway();
    assert_eq!(
        cluster(&gw, &get("a.example.com", "/")).as_deref(),
        Some("c-wild")
    );
    assert_eq!(
        cluster(&gw, &get("a.b.example.com", "/")).as_deref(),
        Some("c-wild")
    );
    assert_eq!(
        cluster(&gw, &get("example.com", "/")).as_deref(),
        Some("c-com")
    );
    assert_eq!(cluster(&gw, &get("x.org", "/")).as_deref(), Some("c-any"));
}

/// G-9: order is exact > suffix > prefix > `*`.
#[test]
fn g9_prefix_then_any() {
    let gw = wildcard_gateway();
    assert_eq!(cluster(&gw, &get("foo.org", "/")).as_deref(), Some("c-pre"));
    // A suffix wildcard beats a prefix wildcard.
    assert_eq!(cluster(&gw, &get("foo.com", "/")).as_deref(), Some("c-com"));
    assert_eq!(cluster(&gw, &get("bar", "/")).as_deref(), Some("c-any"));
}

/// G-9, S-2: any port is ignored (the integration test uses 80 and 12345), case is folded.
#[test]
fn s2_port_and_case_ignored() {
    let gw = wildcard_gateway();
    for host in [
        "dev.example.com:80",
        "dev.example.com:12345",
        "DEV.Example.COM",
        "Dev.example.com:8080",
    ] {
        assert_eq!(
            cluster(&gw, &get(host, "/")).as_deref(),
            Some("c-dev"),
            "{host}"
        );
    }
    assert_eq!(
        cluster(&gw, &get("foo.example.com:12345", "/")).as_deref(),
        Some("c-wild")
    );
}

/// S-2: a trailing dot is kept, so only `*` matches `dev.example.com.`.
#[test]
fn s2_trailing_dot_only_star() {
    let gw = wildcard_gateway();
    assert_eq!(
        cluster(&gw, &get("dev.example.com.", "/")).as_deref(),
        Some("c-any")
    );
    let strict = gateway(config(vec![listener(
        80,
        vec![server("s", &["dev.example.com", "*.example.com"])],
        vec![vhost(
            "dev",
            &["dev.example.com"],
            vec![catch_all("r", "c")],
        )],
    )]));
    assert_eq!(
        refusal(&strict, &get("dev.example.com.", "/")),
        Some(Refusal::HostNotAllowed)
    );
}

/// S-2, G-5: IPv6 literal hosts, bracketed with or without a port; IPv4 as exact names.
#[test]
fn s2_ip_literals() {
    let gw = gateway(config(vec![listener(
        80,
        vec![server("s", &["::1", "10.0.0.1"])],
        vec![
            vhost("v6", &["[::1]"], vec![catch_all("r6", "c6")]),
            vhost("v4", &["10.0.0.1"], vec![catch_all("r4", "c4")]),
        ],
    )]));
    assert_eq!(cluster(&gw, &get("[::1]:8080", "/")).as_deref(), Some("c6"));
    assert_eq!(cluster(&gw, &get("[::1]", "/")).as_deref(), Some("c6"));
    assert_eq!(
        cluster(&gw, &get("10.0.0.1:80", "/")).as_deref(),
        Some("c4")
    );
    assert_eq!(
        refusal(&gw, &get("[::2]", "/")),
        Some(Refusal::HostNotAllowed)
    );
}

/// G-9: the chosen vhost has no matching route: 404, no fall-through to `*`.
#[test]
fn g9_no_fall_through() {
    let gw = simple(vec![
        vhost(
            "dev",
            &["dev.example.com"],
            vec![route(
                "api",
                json!({"uri": {"prefix": "/api"}}),
                fwd("c-api"),
            )],
        ),
        vhost("any", &["*"], vec![catch_all("any", "c-any")]),
    ]);
    let d = decide(&gw, &get("dev.example.com", "/other"));
    assert_eq!(d.outcome, Outcome::Refused(Refusal::NoRoute));
    assert_eq!(d.evidence.virtual_host, Some("dev"));
    assert_eq!(Refusal::NoRoute.status(), 404);
}

/// G-10: a host no server lists is refused with 404; one listed without a vhost gets 404 too.
#[test]
fn g10_not_served() {
    let gw = gateway(config(vec![listener(
        80,
        vec![server(
            "ns/gw/http",
            &["dev.example.com", "test.example.com"],
        )],
        vec![vhost(
            "dev",
            &["dev.example.com"],
            vec![catch_all("r", "c")],
        )],
    )]));
    let d = decide(&gw, &get("other.example.com", "/"));
    assert_eq!(d.outcome, Outcome::Refused(Refusal::HostNotAllowed));
    assert_eq!(d.evidence.listener_port, Some(80));
    assert_eq!(d.evidence.server, None);
    let d = decide(&gw, &get("test.example.com", "/"));
    assert_eq!(d.outcome, Outcome::Refused(Refusal::NoVirtualHost));
    assert_eq!(d.evidence.server, Some("ns/gw/http"));
    assert_eq!(Refusal::HostNotAllowed.status(), 404);
    assert_eq!(Refusal::NoVirtualHost.status(), 404);
    // The host filter alone admits a listed host even without a vhost (F.11).
    assert!(admitted(&gw, &get("test.example.com", "/")));
    assert!(!admitted(&gw, &get("other.example.com", "/")));
}

/// G-10: a listener without any vhost (Istio's blackhole) answers 404 to everything.
#[test]
fn g10_blackhole() {
    let gw = gateway(config(vec![listener(
        80,
        vec![server("s", &["*"])],
        vec![],
    )]));
    for host in ["a.com", "b.org:81"] {
        assert_eq!(refusal(&gw, &get(host, "/")), Some(Refusal::NoVirtualHost));
    }
}

/// An unknown bind port and a missing authority (S-2: 400).
#[test]
fn unknown_listener_and_missing_authority() {
    let gw = routes(vec![route("r", json!({}), fwd("c"))]);
    assert_eq!(
        refusal(&gw, &get("a", "/").port(81)),
        Some(Refusal::UnknownListener)
    );
    assert_eq!(refusal(&gw, &get("", "/")), Some(Refusal::MissingAuthority));
    assert_eq!(Refusal::MissingAuthority.status(), 400);
}

/// G-13: the listener is selected by its bind port; evidence and redirects use the Gateway port.
#[test]
fn g13_bind_port() {
    let mut l = listener(
        80,
        vec![server("s", &["*"])],
        vec![vhost(
            "v",
            &["*"],
            vec![route(
                "r",
                json!({}),
                json!({"redirect": {"uri": "/x", "derivePort": "FROM_REQUEST_PORT"}}),
            )],
        )],
    );
    l["bindPort"] = json!(8080);
    let gw = gateway(config(vec![l]));
    assert_eq!(
        refusal(&gw, &get("b", "/").port(80)),
        Some(Refusal::UnknownListener)
    );
    let req = get("b", "/").port(8080);
    assert_eq!(decide(&gw, &req).evidence.listener_port, Some(80));
    assert_eq!(redirect(&gw, &req), (301, "http://b/x".to_string()));
}

/// G-7: an `httpsRedirect` server answers plain requests with 301 to https, Host as received.
#[test]
fn g7_https_redirect() {
    let mut s = server("ns/gw/http", &["dev.example.com"]);
    s["httpsRedirect"] = json!(true);
    let gw = gateway(config(vec![listener(
        80,
        vec![s, server("ns/gw/other", &["*"])],
        vec![vhost(
            "dev",
            &["dev.example.com"],
            vec![catch_all("r", "c")],
        )],
    )]));
    let req = get("dev.example.com:8080", "/a/b?x=1");
    assert_eq!(
        redirect(&gw, &req),
        (301, "https://dev.example.com:8080/a/b?x=1".to_string())
    );
    match gw.admit_host(&req.view()) {
        HostVerdict::HttpsRedirect { evidence, location } => {
            assert_eq!(location, "https://dev.example.com:8080/a/b?x=1");
            assert_eq!(evidence.server, Some("ns/gw/http"));
        }
        other => panic!("{other:?}"),
    }
    // Over TLS the request is routed.
    assert_eq!(
        cluster(&gw, &get("dev.example.com", "/").scheme("https")).as_deref(),
        Some("c")
    );
    // Hosts of other servers are not redirected.
    assert_eq!(
        refusal(&gw, &get("x.org", "/")),
        Some(Refusal::NoVirtualHost)
    );
}

/// G-7: a vhost with `requireTls` redirects before route matching.
#[test]
fn g7_require_tls_vhost() {
    let mut v = vhost("dev", &["dev.example.com"], vec![]);
    v["requireTls"] = json!(true);
    let gw = simple(vec![v]);
    let d = decide(&gw, &get("dev.example.com", "/p?q"));
    assert_eq!(d.evidence.virtual_host, Some("dev"));
    assert!(
        matches!(d.outcome, Outcome::Redirect { status: 301, ref location, .. } if location == "https://dev.example.com/p?q")
    );
    assert_eq!(
        refusal(&gw, &get("dev.example.com", "/").scheme("https")),
        Some(Refusal::NoRoute)
    );
}

/// G-7: the redirect follows the connection, not `:scheme`: a cleartext HTTP/2 client that
/// sends `:scheme: https` is still redirected (server level and vhost level), and a TLS
/// connection whose client sends `:scheme: http` is not.
#[test]
fn g7_redirect_decides_on_the_connection_not_the_scheme() {
    let mut s = server("ns/gw/http", &["dev.example.com"]);
    s["httpsRedirect"] = json!(true);
    let mut v = vhost("tls-only", &["tls.example.com"], vec![catch_all("r", "c")]);
    v["requireTls"] = json!(true);
    let gw = gateway(config(vec![listener(
        80,
        vec![s, server("ns/gw/other", &["*"])],
        vec![
            vhost("dev", &["dev.example.com"], vec![catch_all("r", "c")]),
            v,
        ],
    )]));
    assert!(gw.needs_tls());
    for host in ["dev.example.com", "tls.example.com"] {
        let claimed = get(host, "/x").claimed_scheme("https");
        assert_eq!(
            redirect(&gw, &claimed),
            (301, format!("https://{host}/x")),
            "{host}"
        );
        let mut over_tls = get(host, "/x").claimed_scheme("http");
        over_tls.tls = true;
        assert_eq!(cluster(&gw, &over_tls).as_deref(), Some("c"), "{host}");
    }
    assert!(matches!(
        gw.admit_host(&get("dev.example.com", "/").claimed_scheme("https").view()),
        HostVerdict::HttpsRedirect { .. }
    ));
    // A config without redirects never needs the connection's protocol.
    assert!(!simple(vec![vhost("a", &["*"], vec![catch_all("r", "c")])]).needs_tls());
}

/// G-2, G-7: two servers list the same host; one has `httpsRedirect`: the merged host redirects.
#[test]
fn g7_merged_servers_redirect() {
    let mut s2 = server("second", &["dev.example.com"]);
    s2["httpsRedirect"] = json!(true);
    let gw = gateway(config(vec![listener(
        80,
        vec![server("first", &["dev.example.com"]), s2],
        vec![],
    )]));
    match gw.admit_host(&get("dev.example.com", "/").view()) {
        HostVerdict::HttpsRedirect { evidence, .. } => assert_eq!(evidence.server, Some("first")),
        other => panic!("{other:?}"),
    }
}

/// Evidence is filled as far as the decision got.
#[test]
fn evidence_complete() {
    let gw = wildcard_gateway();
    let d = decide(&gw, &get("a.example.com", "/"));
    assert_eq!(d.evidence.listener_port, Some(80));
    assert_eq!(d.evidence.server, Some("ns/gw/http"));
    assert_eq!(d.evidence.matched_host, Some("*.example.com"));
    assert_eq!(d.evidence.virtual_host, Some("wild"));
    assert_eq!(d.evidence.route, Some("wild"));
    assert_eq!(d.evidence.virtual_service, Some("ns/vs"));
    assert_eq!(gw.config_version(), "sha256:test");
}

/// Compile-time validation names the offending field.
#[test]
fn compile_errors_name_fields() {
    let ok_vhost = || vhost("v", &["*"], vec![route("r", json!({}), fwd("c"))]);
    let e = refused(config(vec![
        listener(80, vec![], vec![]),
        listener(80, vec![], vec![]),
    ]));
    assert!(e.starts_with("listeners[1].bindPort"), "{e}");
    let e = refused(config(vec![listener(
        80,
        vec![server("s", &["ok.com", "bad..com"])],
        vec![],
    )]));
    assert!(e.starts_with("listeners[0].servers[0].hosts[1]"), "{e}");
    let e = refused(config(vec![listener(
        80,
        vec![],
        vec![ok_vhost(), vhost("w", &["*"], vec![])],
    )]));
    assert!(
        e.starts_with("listeners[0].virtualHosts[1].domains[0]"),
        "{e}"
    );
    let bad_route = |r| {
        refused(config(vec![listener(
            80,
            vec![],
            vec![ok_vhost(), ok_vhost_with(r)],
        )]))
    };
    fn ok_vhost_with(r: serde_json::Value) -> serde_json::Value {
        vhost("v2", &["x.com"], vec![route("ok", json!({}), fwd("c")), r])
    }
    let at = "listeners[0].virtualHosts[1].routes[1]";
    let cases = [
        (
            route("r", json!({"uri": {"regex": "a("}}), fwd("c")),
            "match.uri",
        ),
        (
            route("r", json!({"headers": {"X-A": {"regex": "*"}}}), fwd("c")),
            "match.headers[\"X-A\"]",
        ),
        (
            route(
                "r",
                json!({"queryParams": {"q": {"regex": "(?x)a"}}}),
                fwd("c"),
            ),
            "match.queryParams[\"q\"]",
        ),
        (
            route("r", json!({}), json!({"route": {"destinations": []}})),
            "action.route.destinations",
        ),
        (
            route(
                "r",
                json!({}),
                json!({"route": {"destinations": [{"cluster": "a", "weight": 0}, {"cluster": "b", "weight": 0}]}}),
            ),
            "action.route.destinations",
        ),
        (
            route("r", json!({}), json!({"redirect": {"code": 300}})),
            "action.redirect.code",
        ),
        (
            route("r", json!({}), json!({"directResponse": {"status": 600}})),
            "action.directResponse.status",
        ),
        (
            route(
                "r",
                json!({}),
                json!({"route": {"destinations": [{"cluster": "a", "weight": 1}], "rewrite": {"uriRegex": {"pattern": "(a)", "substitution": "\\2"}}}}),
            ),
            "action.route.rewrite.uriRegex.substitution",
        ),
    ];
    for (r, field) in cases {
        let e = bad_route(r);
        assert!(e.starts_with(&format!("{at}.{field}")), "{field}: {e}");
    }
    let mut r = route("r", json!({}), fwd("c"));
    r["fault"] = json!({"abort": {"httpStatus": 503, "percentage": 100.5}});
    assert!(bad_route(r).starts_with(&format!("{at}.fault.abort.percentage")));
    let mut r = route("r", json!({}), json!({"directResponse": {"status": 200}}));
    r["fault"] = json!({"delay": {"fixedDelayMs": 1, "percentage": 1}});
    assert!(bad_route(r).starts_with(&format!("{at}.fault")));
    let mut r = route("r", json!({}), fwd("c"));
    r["mirrors"] = json!([{"cluster": "m", "percentage": -1}]);
    assert!(bad_route(r).starts_with(&format!("{at}.mirrors[0].percentage")));
}

/// The filter fetches only the headers some matcher reads (lowercased, no pseudo-headers).
#[test]
fn referenced_headers() {
    let mut r = route(
        "r",
        json!({"headers": {"X-User": {"exact": "a"}, ":method": {"exact": "GET"}}, "withoutHeaders": {"x-debug": {"present": true}}}),
        fwd("c"),
    );
    r["cors"] = json!({"allowOrigins": [{"exact": "https://a"}]});
    let gw = routes(vec![r]);
    assert_eq!(
        gw.referenced_headers(),
        [
            "access-control-request-method",
            "origin",
            "x-debug",
            "x-user"
        ]
    );
}

/// The compiled gateway is shared by every request and stream: it must be `Send + Sync`.
#[test]
fn gateway_is_shareable() {
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<portcullis_core::Gateway>();
}

/// A gateway compiled for host filtering only admits, redirects and refuses exactly as the full
/// one does, and routes nothing (its tables were not compiled).
#[test]
fn host_filtering_alone_decides_hosts_as_the_full_gateway() {
    let config = config(vec![listener(
        80,
        vec![
            server("ns/gw/http", &["dev.example.com", "*.example.com"]),
            json!({"name": "ns/gw/redirect", "hosts": ["secure.test"], "httpsRedirect": true}),
        ],
        vec![vhost(
            "dev",
            &["dev.example.com"],
            vec![catch_all("dev", "c-dev")],
        )],
    )]);
    let full = gateway(config.clone());
    let wire = portcullis_core::wire::WireConfig::from_json(config.to_string().as_bytes()).unwrap();
    let hosts = portcullis_core::Gateway::compile_hosts(&wire).unwrap();
    for req in [
        get("dev.example.com", "/"),
        get("a.example.com:80", "/x"),
        get("secure.test", "/"),
        get("other.test", "/"),
        get("DEV.example.com.", "/"),
        get("dev.example.com", "/").port(81),
    ] {
        assert_eq!(
            format!("{:?}", hosts.admit_host(&req.view())),
            format!("{:?}", full.admit_host(&req.view())),
            "{req:?}"
        );
    }
    assert_eq!(
        refusal(&hosts, &get("dev.example.com", "/")),
        Some(Refusal::NoVirtualHost)
    );
}
