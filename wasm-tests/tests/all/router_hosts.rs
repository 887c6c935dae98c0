//! The router's host stage through the .wasm: Gateway servers admit or refuse a host (G-5,
//! G-10), `httpsRedirect` answers plain text with a 301 (G-7), the port and case of the Host
//! do not matter (S-2), and the listener is chosen by the destination port.
#![allow(clippy::unwrap_used, reason = "test code")]

use serde_json::json;

use crate::fixtures::{cluster, plain_get, route, router, router_builder, status_of, to, wire};

fn catch_all(hosts: &[&str]) -> serde_json::Value {
    wire(
        hosts,
        vec![route("all", json!({}), to(&cluster("app")), json!({}))],
    )
}

/// G-5, G-10: exact and wildcard server hosts admit; anything else is 404 and counted refused.
#[test]
fn listed_and_wildcard_hosts_are_routed_and_others_get_404() {
    let mut host = router(&catch_all(&["a.example.com", "*.wild.example.com"]));
    for authority in [
        "a.example.com",
        "x.wild.example.com",
        "y.z.wild.example.com",
    ] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(
            s.upstream_cluster(),
            Some(cluster("app")),
            "{authority}: {}",
            s.host_report()
        );
    }
    for authority in ["b.example.com", "wild.example.com", "example.com"] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(status_of(&s), 404, "{authority}");
        assert!(
            s.local_response().unwrap().body.is_empty(),
            "Istio's 404 NR has no body"
        );
    }
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.router.routed"), Some(3));
    assert_eq!(m.counter("portcullis.router.unrouted"), Some(3));
    assert_eq!(m.counter("portcullis.router.refused"), Some(3));
}

/// S-2: the Host's port and letter case are ignored when matching server hosts.
#[test]
fn host_match_ignores_port_and_case() {
    let mut host = router(&catch_all(&["a.example.com"]));
    for authority in [
        "A.Example.COM",
        "a.example.com:80",
        "a.example.com:8443",
        "A.EXAMPLE.com:1",
    ] {
        let s = host
            .http_request()
            .get(authority, "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(status_of(&s), 0, "{authority}: {}", s.host_report());
    }
}

/// G-7: the redirect follows the connection (`x-forwarded-proto`, which Envoy sets from it),
/// not `:scheme`: a cleartext HTTP/2 request claiming `:scheme: https` is redirected.
#[test]
fn https_redirect_ignores_a_claimed_scheme() {
    let mut config = catch_all(&["secure.example.com"]);
    config["listeners"][0]["servers"][0]["httpsRedirect"] = json!(true);
    let mut host = router(&config);
    let s = host
        .http_request()
        .header(":method", "GET")
        .header(":scheme", "https")
        .header(":path", "/a")
        .header(":authority", "secure.example.com")
        .header("x-forwarded-proto", "http")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 301, "{}", s.host_report());
}

/// G-7: a plain-text request to an httpsRedirect server gets 301 to https with host and path
/// kept; an https request is routed.
#[test]
fn https_redirect_server_answers_plain_text_with_301() {
    let mut config = catch_all(&["secure.example.com"]);
    config["listeners"][0]["servers"][0]["httpsRedirect"] = json!(true);
    let mut host = router(&config);
    let s = plain_get(&mut host, "secure.example.com", "/a/b?q=1")
        .send_headers_only()
        .unwrap();
    let r = s.local_response().unwrap();
    assert_eq!(r.status, 301);
    let location = r
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.as_str());
    assert_eq!(location, Some("https://secure.example.com/a/b?q=1"));
    let s = host
        .http_request()
        .get("secure.example.com", "/")
        .over_tls()
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
    assert_eq!(
        host.metrics().counter("portcullis.router.redirected"),
        Some(1)
    );
}

/// G-2: the listener is selected by the connection's destination port, through `bindPort`
/// when set; an unknown port is 404.
#[test]
fn destination_port_selects_the_listener_by_bind_port() {
    let mut config = catch_all(&["a.example.com"]);
    config["listeners"][0]["bindPort"] = json!(8080);
    config["listeners"]
        .as_array_mut()
        .unwrap()
        .push(json!({"port": 443, "servers": [{"name": "ns/gw/https", "hosts": ["b.example.com"], "tls": true,
            "virtualHosts": [{"name": "b", "domains": ["*"], "routes": [route("b", json!({}), to(&cluster("b")), json!({}))]}]}]}));
    let mut host = router_builder(&config)
        .property("destination.port", 8080i64)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("a.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("app")));
    let s = host
        .http_request()
        .get("b.example.com", "/")
        .property("destination.port", 443i64)
        .property("connection.requested_server_name", "b.example.com")
        .send_headers_only()
        .unwrap();
    assert_eq!(
        s.upstream_cluster(),
        Some(cluster("b")),
        "{}",
        s.host_report()
    );
    let s = host
        .http_request()
        .get("a.example.com", "/")
        .property("destination.port", 80i64)
        .send_headers_only()
        .unwrap();
    assert_eq!(
        status_of(&s),
        404,
        "port 80 is not bound: bindPort moved it to 8080"
    );
}

/// G-10: a served host with no virtual host for it (no bound VirtualService) is 404.
#[test]
fn served_host_without_virtual_host_is_404() {
    let mut config = catch_all(&["a.example.com", "b.example.com"]);
    config["listeners"][0]["virtualHosts"][0]["domains"] = json!(["a.example.com"]);
    let mut host = router(&config);
    let s = host
        .http_request()
        .get("b.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 404);
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.router.unrouted"), Some(1));
    assert_eq!(
        m.counter("portcullis.router.refused"),
        Some(0),
        "not a host refusal"
    );
}

/// G-11: on a TLS port the SNI (`connection.requested_server_name`) selects the server and the
/// Host is routed only within that server's table: SNI `a` + Host `b` of another server → 404.
#[test]
fn sni_selects_the_https_server_and_its_route_table() {
    let table = |name: &str| {
        json!([{"name": name, "domains": [format!("{name}.example.com")],
            "routes": [route(name, json!({}), to(&cluster(name)), json!({}))]}])
    };
    let config = json!({"version": 1, "configVersion": "sha256:sni", "listeners": [{
        "port": 443,
        "servers": [
            {"name": "ns/a/https", "hosts": ["a.example.com"], "tls": true, "virtualHosts": table("a")},
            {"name": "ns/b/https", "hosts": ["b.example.com"], "tls": true, "virtualHosts": table("b")},
        ],
    }]});
    let mut host = router_builder(&config)
        .property("destination.port", 443i64)
        .build()
        .unwrap();
    for (sni, authority, expected) in [
        ("b.example.com", "b.example.com", Some("b")),
        ("a.example.com", "a.example.com", Some("a")),
        ("a.example.com", "b.example.com", None),
        // No SNI and no `*` server: no filter chain would have accepted the connection.
        ("", "a.example.com", None),
    ] {
        let s = host
            .http_request()
            .get(authority, "/")
            .property("connection.requested_server_name", sni)
            .send_headers_only()
            .unwrap();
        match expected {
            Some(c) => assert_eq!(
                s.upstream_cluster(),
                Some(cluster(c)),
                "{}",
                s.host_report()
            ),
            None => assert_eq!(status_of(&s), 404, "{sni} {authority}: {}", s.host_report()),
        }
    }
}

/// G-11: with named filter chains the router takes the server from `xds.filter_chain_name`,
/// the chain Envoy chose, not from the SNI; an unknown chain selects no server (404).
#[test]
fn tls_server_is_the_one_of_the_filter_chain() {
    let server = |name: &str, host: &str, c: &str| {
        json!({ "name": name, "hosts": [host], "tls": true, "filterChain": format!("chain-{name}"),
                "virtualHosts": [{ "name": name, "domains": ["*"], "routes": [
                    route(name, json!({}), to(&cluster(c)), json!({}))
                ]}] })
    };
    let config = json!({
        "version": 1,
        "configVersion": "chains",
        "listeners": [{ "port": 80, "servers": [
            server("secure", "secure.example.com", "secure"),
            server("any", "*", "any")
        ]}],
    });
    let mut host = router(&config);
    for (chain, expected) in [
        ("chain-any", Some(cluster("any"))),
        ("chain-secure", Some(cluster("secure"))),
        ("other", None),
    ] {
        let s = host
            .http_request()
            .get("secure.example.com", "/")
            .property("connection.requested_server_name", "secure.example.com")
            .property("xds.filter_chain_name", chain)
            .send_headers_only()
            .unwrap();
        assert_eq!(
            s.upstream_cluster(),
            expected,
            "{chain}: {}",
            s.host_report()
        );
        if expected.is_none() {
            assert_eq!(status_of(&s), 404);
        }
    }
}
