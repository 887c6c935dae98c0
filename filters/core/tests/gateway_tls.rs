//! HTTPS servers: the SNI selects the server, the Host selects the vhost within that server's
//! own route table only (G-11); plain-text servers share one table per port (G-8).

mod common;

use common::*;
use portcullis_core::{HostVerdict, Refusal};
use serde_json::{Value, json};

fn catch_all(name: &str, cluster: &str) -> Value {
    route(name, json!({}), fwd(cluster))
}

/// Port 443 with two HTTPS servers: `a.example.com` and `b.example.com`, each with its table.
fn two_servers() -> portcullis_core::Gateway {
    gateway(config(vec![listener(
        443,
        vec![
            tls_server(
                "ns/gw-a/https",
                &["a.example.com"],
                vec![vhost("a", &["a.example.com"], vec![catch_all("a", "c-a")])],
            ),
            tls_server(
                "ns/gw-b/https",
                &["b.example.com"],
                vec![vhost("b", &["b.example.com"], vec![catch_all("b", "c-b")])],
            ),
        ],
        vec![],
    )]))
}

fn https(sni: Option<&str>, host: &str) -> Req {
    get(host, "/").port(443).tls(sni)
}

/// G-11: SNI and Host of the same server route normally; the evidence names the server.
#[test]
fn g11_sni_selects_the_server() {
    let gw = two_servers();
    let d = decide(&gw, &https(Some("a.example.com"), "a.example.com"));
    assert_eq!(d.evidence.server, Some("ns/gw-a/https"));
    assert_eq!(d.evidence.virtual_host, Some("a"));
    assert_eq!(
        cluster(&gw, &https(Some("b.example.com"), "b.example.com:443")).as_deref(),
        Some("c-b")
    );
    // SNI is a host name: case does not matter.
    assert_eq!(
        cluster(&gw, &https(Some("B.Example.COM"), "b.example.com")).as_deref(),
        Some("c-b")
    );
}

/// G-11, S-3: SNI `a` + Host `b` of another server on the port → 404, not routed to `b`:
/// `:authority` and SNI are not cross-checked, and no 421 is sent.
#[test]
fn g11_sni_of_one_server_host_of_another_is_404() {
    let gw = two_servers();
    let req = https(Some("a.example.com"), "b.example.com");
    let d = decide(&gw, &req);
    assert_eq!(d.evidence.server, Some("ns/gw-a/https"));
    assert_eq!(d.evidence.virtual_host, None);
    assert_eq!(refusal(&gw, &req), Some(Refusal::HostNotAllowed));
    assert_eq!(Refusal::HostNotAllowed.status(), 404);
    assert!(!admitted(&gw, &req));
    assert!(admitted(
        &gw,
        &https(Some("b.example.com"), "b.example.com")
    ));
}

/// G-11: an SNI no server lists (or no SNI without a `*` server) matches no filter chain.
#[test]
fn g11_unknown_or_missing_sni_matches_no_server() {
    let gw = two_servers();
    for sni in [Some("c.example.com"), None] {
        let req = https(sni, "a.example.com");
        assert_eq!(refusal(&gw, &req), Some(Refusal::NoTlsServer), "{sni:?}");
        assert_eq!(decide(&gw, &req).evidence.server, None);
        match gw.admit_host(&req.view()) {
            HostVerdict::Refused { refusal, .. } => assert_eq!(refusal, Refusal::NoTlsServer),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(Refusal::NoTlsServer.status(), 404);
}

/// G-11, G-8: the same host on two servers (different SNI patterns) has a different route
/// table in each; the SNI decides which routes apply.
#[test]
fn g11_same_host_on_two_servers_routes_per_server() {
    let gw = gateway(config(vec![listener(
        443,
        vec![
            tls_server(
                "ns/gw/exact",
                &["shop.example.com"],
                vec![vhost(
                    "exact",
                    &["shop.example.com"],
                    vec![catch_all("exact", "c-exact")],
                )],
            ),
            tls_server(
                "ns/gw/wild",
                &["*.example.com"],
                vec![vhost(
                    "wild",
                    &["*.example.com"],
                    vec![catch_all("wild", "c-wild")],
                )],
            ),
        ],
        vec![],
    )]));
    // Host `shop` is in both tables (exactly in one, by wildcard in the other).
    assert_eq!(
        cluster(&gw, &https(Some("shop.example.com"), "shop.example.com")).as_deref(),
        Some("c-exact")
    );
    assert_eq!(
        cluster(&gw, &https(Some("x.example.com"), "shop.example.com")).as_deref(),
        Some("c-wild")
    );
    // The exact server's table has no wildcard vhost: no fall-through (G-9).
    assert_eq!(
        refusal(&gw, &https(Some("shop.example.com"), "x.example.com")),
        Some(Refusal::HostNotAllowed)
    );
}

/// G-11: exact SNI beats `*.suffix`, the longest suffix beats a shorter one, `*` takes any
/// SNI, including none.
#[test]
fn g11_wildcard_versus_exact_sni() {
    let server_for = |hosts: &[&str], name: &str| {
        tls_server(
            name,
            hosts,
            vec![vhost(name, &["*"], vec![catch_all(name, name)])],
        )
    };
    let gw = gateway(config(vec![listener(
        443,
        vec![
            server_for(&["*.example.com"], "wild"),
            server_for(&["*.eu.example.com"], "eu"),
            server_for(&["api.eu.example.com"], "api"),
            server_for(&["*"], "any"),
        ],
        vec![],
    )]));
    for (sni, expected) in [
        (Some("api.eu.example.com"), "api"),
        (Some("web.eu.example.com"), "eu"),
        (Some("a.b.eu.example.com"), "eu"),
        (Some("web.example.com"), "wild"),
        (Some("example.com"), "any"),
        (Some("other.org"), "any"),
        (None, "any"),
    ] {
        let req = https(sni, sni.unwrap_or("no-sni.test"));
        assert_eq!(decide(&gw, &req).evidence.server, Some(expected), "{sni:?}");
        assert_eq!(cluster(&gw, &req).as_deref(), Some(expected), "{sni:?}");
    }
}

/// G-11: without chain names the SNI selects the server exactly as Envoy selects the filter
/// chain: lowercased, nothing else removed (a trailing dot or a `:port` makes the name match no
/// server name, so the `*` chain takes it), wildcards from the second character on, and
/// Envoy's quirk that `.eu.example.com` is taken by `*.eu.example.com`.
#[test]
fn g11_sni_is_matched_as_envoy_matches_server_names() {
    let server_for = |hosts: &[&str], name: &str| {
        tls_server(
            name,
            hosts,
            vec![vhost(name, &["*"], vec![catch_all(name, name)])],
        )
    };
    let gw = gateway(config(vec![listener(
        443,
        vec![
            server_for(&["*.example.com"], "wild"),
            server_for(&["*.eu.example.com"], "eu"),
            server_for(&["api.eu.example.com"], "api"),
            server_for(&["*"], "any"),
        ],
        vec![],
    )]));
    let long = format!("{}.example.com", ["a"; 120].join("."));
    for (sni, expected) in [
        ("API.EU.Example.COM", "api"),
        ("api.eu.example.com.", "any"),
        ("api.eu.example.com:443", "any"),
        (".eu.example.com", "eu"),
        ("eu.example.com", "wild"),
        ("10.0.0.1", "any"),
        ("[::1]", "any"),
        ("sécure.example.com", "wild"),
        ("", "any"),
        (long.as_str(), "wild"),
    ] {
        let req = https(Some(sni), "host.test");
        assert_eq!(decide(&gw, &req).evidence.server, Some(expected), "{sni:?}");
    }
}

/// G-11: when the servers name their filter chains, the chain Envoy chose selects the server,
/// whatever the SNI says; an unknown or empty chain name selects none (404, fail closed).
/// Without a chain name (the operator's `explain`), the SNI rule stands in.
#[test]
fn g11_filter_chain_name_selects_the_server() {
    let named = |name: &str, hosts: &[&str], chain: &str| {
        let mut s = tls_server(
            name,
            hosts,
            vec![vhost(name, &["*"], vec![catch_all(name, name)])],
        );
        s["filterChain"] = json!(chain);
        s
    };
    let gw = gateway(config(vec![listener(
        443,
        vec![
            named("mutual", &["secure.example.com"], "chain-mutual"),
            named("simple", &["*"], "chain-simple"),
        ],
        vec![],
    )]));
    assert!(gw.needs_filter_chain() && !gw.needs_sni());
    let on_chain = |chain: Option<&str>, sni: &str| {
        let mut req = https(Some(sni), "secure.example.com");
        req.filter_chain = chain.map(str::to_string);
        req
    };
    // Envoy put `secure.example.com.` on the `*` chain: the filter routes it there.
    let d = decide(&gw, &on_chain(Some("chain-simple"), "secure.example.com."));
    assert_eq!(d.evidence.server, Some("simple"));
    let d = decide(&gw, &on_chain(Some("chain-mutual"), "secure.example.com"));
    assert_eq!(d.evidence.server, Some("mutual"));
    for chain in ["", "other"] {
        assert_eq!(
            refusal(&gw, &on_chain(Some(chain), "secure.example.com")),
            Some(Refusal::NoTlsServer),
            "{chain:?}"
        );
    }
    let d = decide(&gw, &on_chain(None, "secure.example.com."));
    assert_eq!(d.evidence.server, Some("simple"));
}

/// The wire format: chain names are unique, only on TLS servers, and all or none of a
/// listener's TLS servers have one.
#[test]
fn filter_chain_names_are_validated() {
    let with_chain = |mut s: Value, chain: &str| {
        s["filterChain"] = json!(chain);
        s
    };
    let a = || tls_server("a", &["a.example.com"], vec![]);
    let b = || tls_server("b", &["b.example.com"], vec![]);
    let err = refused(config(vec![listener(
        443,
        vec![with_chain(a(), "x"), with_chain(b(), "x")],
        vec![],
    )]));
    assert!(err.contains("servers[1].filterChain"), "{err}");
    let err = refused(config(vec![listener(
        443,
        vec![with_chain(a(), "x"), b()],
        vec![],
    )]));
    assert!(err.contains("listeners[0].servers"), "{err}");
    let err = refused(config(vec![listener(
        80,
        vec![with_chain(server("p", &["*"]), "x")],
        vec![],
    )]));
    assert!(err.contains("servers[0].filterChain"), "{err}");
}

/// G-10, G-11: a server with no route table answers 404 for its hosts even though another
/// server on the port routes the same host.
#[test]
fn g11_empty_server_table_is_a_blackhole() {
    let gw = gateway(config(vec![listener(
        443,
        vec![
            tls_server("ns/gw/empty", &["a.example.com"], vec![]),
            tls_server(
                "ns/gw/any",
                &["*"],
                vec![vhost("all", &["*"], vec![catch_all("all", "c")])],
            ),
        ],
        vec![],
    )]));
    assert_eq!(
        refusal(&gw, &https(Some("a.example.com"), "a.example.com")),
        Some(Refusal::NoVirtualHost)
    );
    assert_eq!(
        cluster(&gw, &https(Some("b.example.com"), "a.example.com")).as_deref(),
        Some("c")
    );
}

/// G-8: plain-text servers on one port still share the listener's table; the SNI is ignored
/// and the config needs none.
#[test]
fn g8_plain_text_unaffected() {
    let gw = gateway(config(vec![listener(
        80,
        vec![
            server("ns/gw-a/http", &["a.example.com"]),
            server("ns/gw-b/http", &["b.example.com"]),
        ],
        vec![
            vhost("a", &["a.example.com"], vec![catch_all("a", "c-a")]),
            vhost("b", &["b.example.com"], vec![catch_all("b", "c-b")]),
        ],
    )]));
    assert!(!gw.needs_sni());
    assert_eq!(
        cluster(&gw, &get("b.example.com", "/")).as_deref(),
        Some("c-b")
    );
    let mut req = get("b.example.com", "/");
    req.sni = Some("a.example.com".into());
    assert_eq!(cluster(&gw, &req).as_deref(), Some("c-b"));
    assert!(two_servers().needs_sni());
}

/// G-11: on a port with only TLS servers every connection is TLS, so the SNI selects the
/// server even when `:scheme` claims http (an HTTP/2 client may send any scheme).
#[test]
fn g11_tls_port_ignores_claimed_scheme() {
    let gw = two_servers();
    let mut req = https(Some("a.example.com"), "b.example.com");
    req.scheme = "http".into();
    assert_eq!(refusal(&gw, &req), Some(Refusal::HostNotAllowed));
}

/// The wire format: a plain-text server cannot carry a route table, and each TLS server's
/// table is validated like the shared one, with the error naming it.
#[test]
fn server_tables_are_validated() {
    let mut plain = server("ns/gw/http", &["a.example.com"]);
    plain["virtualHosts"] = json!([vhost("a", &["a.example.com"], vec![])]);
    let err = refused(config(vec![listener(80, vec![plain], vec![])]));
    assert!(
        err.contains("listeners[0].servers[0].virtualHosts"),
        "{err}"
    );

    let err = refused(config(vec![listener(
        443,
        vec![tls_server(
            "ns/gw/https",
            &["a.example.com"],
            vec![
                vhost("a", &["a.example.com"], vec![]),
                vhost("again", &["a.example.com"], vec![]),
            ],
        )],
        vec![],
    )]));
    assert!(
        err.contains("listeners[0].servers[0].virtualHosts[1].domains[0]"),
        "{err}"
    );

    // A shared table on a TLS-only port (the pre-G-11 layout) would never be used: refused.
    let err = refused(config(vec![listener(
        443,
        vec![tls_server("ns/gw/https", &["a.example.com"], vec![])],
        vec![vhost("a", &["a.example.com"], vec![])],
    )]));
    assert!(err.contains("listeners[0].virtualHosts"), "{err}");
}
