//! Route matching within a virtual host (V-5 … V-15, S-1, S-4).

mod common;

use common::*;
use portcullis_core::Refusal;
use serde_json::{Value, json};

/// One route matching `m`, followed by nothing: `Some("hit")` when it matches.
fn hit(m: Value, req: &Req) -> bool {
    let gw = routes(vec![route("hit", m, fwd("c"))]);
    route_name(&gw, req).as_deref() == Some("hit")
}

/// V-5: the first matching route wins, in order; later routes are not consulted.
#[test]
fn v5_first_match_wins() {
    let gw = routes(vec![
        route("api-v1", json!({"uri": {"prefix": "/api/v1"}}), fwd("v1")),
        route("api", json!({"uri": {"prefix": "/api"}}), fwd("api")),
        route(
            "api-v1-late",
            json!({"uri": {"prefix": "/api/v1"}}),
            fwd("never"),
        ),
        route("all", json!({}), fwd("all")),
    ]);
    assert_eq!(
        route_name(&gw, &get("h", "/api/v1/x")).as_deref(),
        Some("api-v1")
    );
    assert_eq!(
        route_name(&gw, &get("h", "/api/v2")).as_deref(),
        Some("api")
    );
    assert_eq!(route_name(&gw, &get("h", "/")).as_deref(), Some("all"));
}

/// V-5: match blocks are ORed, compiled as one wire route each; conditions inside are ANDed.
#[test]
fn v5_or_across_blocks_and_within() {
    let gw = routes(vec![
        route(
            "r.0",
            json!({"uri": {"exact": "/a"}, "method": {"exact": "GET"}}),
            fwd("r"),
        ),
        route("r.1", json!({"headers": {"x-a": {"exact": "1"}}}), fwd("r")),
        route("other", json!({}), fwd("other")),
    ]);
    assert_eq!(route_name(&gw, &get("h", "/a")).as_deref(), Some("r.0"));
    assert_eq!(
        route_name(&gw, &get("h", "/a").method("POST")).as_deref(),
        Some("other")
    );
    assert_eq!(
        route_name(&gw, &get("h", "/b").header("x-a", "1")).as_deref(),
        Some("r.1")
    );
}

/// V-7, V-9: an empty match matches everything; no match at all is a 404.
#[test]
fn v7_v9_catch_all_and_no_route() {
    assert!(hit(json!({}), &get("h", "/anything?x")));
    let gw = routes(vec![route("r", json!({"uri": {"exact": "/"}}), fwd("c"))]);
    assert_eq!(refusal(&gw, &get("h", "/x")), Some(Refusal::NoRoute));
}

/// V-10, V-11: exact, prefix (not segment-aware) and full-match regex on the path without its
/// query; case-sensitive unless `ignoreUriCase`.
#[test]
fn v10_v11_uri() {
    let table: &[(Value, &str, bool)] = &[
        (json!({"uri": {"exact": "/status"}}), "/status", true),
        (json!({"uri": {"exact": "/status"}}), "/status?x=1", true),
        (json!({"uri": {"exact": "/status"}}), "/Status", false),
        (json!({"uri": {"exact": "/status"}}), "/status/", false),
        (json!({"uri": {"prefix": "/status"}}), "/statusx", true),
        (json!({"uri": {"prefix": "/status"}}), "/stat", false),
        (json!({"uri": {"prefix": ""}}), "/", true),
        (
            json!({"uri": {"regex": "/status/\\d+"}}),
            "/status/42",
            true,
        ),
        (
            json!({"uri": {"regex": "/status/\\d+"}}),
            "/status/42/x",
            false,
        ),
        (
            json!({"uri": {"regex": "/status/\\d+"}}),
            "/x/status/42",
            false,
        ),
        (json!({"uri": {"regex": "/s.*"}}), "/s?q=/t", true),
        (json!({"uri": {"regex": "/s\\?q.*"}}), "/s?q", false),
        (
            json!({"uri": {"exact": "/status"}, "ignoreUriCase": true}),
            "/STATUS",
            true,
        ),
        (
            json!({"uri": {"prefix": "/Api"}, "ignoreUriCase": true}),
            "/aPI/x",
            true,
        ),
        // ignoreUriCase has no effect on regex (V-11).
        (
            json!({"uri": {"regex": "/api"}, "ignoreUriCase": true}),
            "/API",
            false,
        ),
        (json!({"uri": {"regex": "(?i)/api"}}), "/API", true),
    ];
    for (m, path, want) in table {
        assert_eq!(hit(m.clone(), &get("h", path)), *want, "{m} vs {path}");
    }
}

/// S-1: Envoy normalises the path before filters; the core matches what it is given and does
/// not merge slashes, so `//status/x` does not match prefix `/status`.
#[test]
fn s1_path_taken_as_normalised_by_envoy() {
    let m = json!({"uri": {"prefix": "/status"}});
    assert!(!hit(m.clone(), &get("h", "//status/x")));
    assert!(!hit(m.clone(), &get("h", "/a%2Fstatus")));
    // A fragment never reaches routing.
    assert!(hit(
        json!({"uri": {"exact": "/status"}}),
        &get("h", "/status#frag")
    ));
}

/// V-12: scheme, method and the raw authority (port and case preserved).
#[test]
fn v12_scheme_method_authority() {
    assert!(hit(json!({"scheme": {"exact": "http"}}), &get("h", "/")));
    assert!(!hit(json!({"scheme": {"exact": "https"}}), &get("h", "/")));
    assert!(hit(
        json!({"method": {"regex": "GET|HEAD"}}),
        &get("h", "/")
    ));
    assert!(!hit(json!({"method": {"exact": "POST"}}), &get("h", "/")));
    let exact = json!({"authority": {"exact": "foo.com"}});
    assert!(hit(exact.clone(), &get("foo.com", "/")));
    assert!(!hit(exact.clone(), &get("foo.com:80", "/")));
    assert!(!hit(exact, &get("FOO.com", "/")));
    assert!(hit(
        json!({"authority": {"prefix": "foo.com"}}),
        &get("foo.com:80", "/")
    ));
}

/// V-13: header conditions; an absent header fails a value condition; presence; pseudo-headers.
#[test]
fn v13_headers() {
    let req = get("h", "/")
        .header("x-user", "jason")
        .header("x-num", "123");
    let table: &[(Value, bool)] = &[
        (json!({"x-user": {"exact": "jason"}}), true),
        (json!({"x-user": {"exact": "Jason"}}), false),
        (json!({"x-user": {"prefix": "ja"}}), true),
        (json!({"x-num": {"regex": "\\d+"}}), true),
        (json!({"x-num": {"regex": "\\d"}}), false),
        (json!({"x-user": {"present": true}}), true),
        (json!({"x-absent": {"present": true}}), false),
        (json!({"x-absent": {"exact": ""}}), false),
        (json!({"x-absent": {"regex": ".*"}}), false),
        (json!({"X-User": {"exact": "jason"}}), true),
        (json!({":method": {"exact": "GET"}}), true),
        (json!({":authority": {"exact": "h"}}), true),
        (
            json!({"x-user": {"exact": "jason"}, "x-num": {"exact": "1"}}),
            false,
        ),
    ];
    for (h, want) in table {
        assert_eq!(hit(json!({"headers": h}), &req), *want, "{h}");
    }
}

/// V-14: `withoutHeaders` is inverted with a missing header treated as empty, except for the
/// presence form; `regex: ".*"` never matches.
#[test]
fn v14_without_headers() {
    let jason = get("h", "/").header("end-user", "jason");
    let mike = get("h", "/").header("end-user", "mike");
    let empty = get("h", "/").header("end-user", "");
    let absent = get("h", "/");
    let table: &[(Value, [bool; 4])] = &[
        // [jason, mike, empty, absent]
        (json!({"exact": "jason"}), [false, true, true, true]),
        (json!({"prefix": "ja"}), [false, true, true, true]),
        (json!({"regex": "j.*"}), [false, true, true, true]),
        (json!({"present": true}), [false, false, false, true]),
        (json!({"regex": ".*"}), [false, false, false, false]),
        (json!({"exact": ""}), [true, true, false, false]),
    ];
    for (cond, want) in table {
        let m = json!({"withoutHeaders": {"end-user": cond}});
        for (req, w) in [&jason, &mike, &empty, &absent].into_iter().zip(want) {
            assert_eq!(hit(m.clone(), req), *w, "{cond} vs {:?}", req.headers);
        }
    }
}

/// V-15: query parameters: raw values, names case-sensitive, `exact: ""` matches `?key` and
/// `?key=`, presence, full-match regex.
#[test]
fn v15_query_params() {
    let table: &[(Value, &str, bool)] = &[
        (json!({"key": {"exact": "value"}}), "/?key=value", true),
        (
            json!({"key": {"exact": "value"}}),
            "/?a=1&key=value&b",
            true,
        ),
        (json!({"key": {"exact": "value"}}), "/?Key=value", false),
        (json!({"key": {"exact": "value"}}), "/?key=Value", false),
        (json!({"key": {"exact": "value"}}), "/", false),
        (json!({"key": {"exact": ""}}), "/?key", true),
        (json!({"key": {"exact": ""}}), "/?key=", true),
        (json!({"key": {"exact": ""}}), "/?other", false),
        (json!({"key": {"present": true}}), "/?key", true),
        (json!({"key": {"present": true}}), "/?keys=1", false),
        (json!({"key": {"prefix": "va"}}), "/?key=value", true),
        (json!({"key": {"regex": "\\d+$"}}), "/?key=123", true),
        (json!({"key": {"regex": "\\d+$"}}), "/?key=a123", false),
        (json!({"key": {"regex": "\\d+$"}}), "/?key=123a", false),
        (json!({"key": {"exact": "a%20b"}}), "/?key=a%20b", true),
        (json!({"key": {"exact": "a b"}}), "/?key=a%20b", false),
        // The first occurrence is the one compared.
        (json!({"key": {"exact": "1"}}), "/?key=1&key=2", true),
        (json!({"key": {"exact": "2"}}), "/?key=1&key=2", false),
    ];
    for (q, path, want) in table {
        assert_eq!(
            hit(json!({"queryParams": q}), &get("h", path)),
            *want,
            "{q} vs {path}"
        );
    }
}

/// S-4, V-10: RE2 Perl classes are ASCII in every matcher (uri, header, query).
#[test]
fn s4_re2_ascii_classes() {
    let uri = json!({"uri": {"regex": "/n/\\d+"}});
    assert!(hit(uri.clone(), &get("h", "/n/0123")));
    assert!(!hit(uri, &get("h", "/n/٣")));
    let header = json!({"headers": {"x-name": {"regex": "\\w+"}}});
    assert!(hit(
        header.clone(),
        &get("h", "/").header("x-name", "abc_1")
    ));
    assert!(!hit(header, &get("h", "/").header("x-name", "café")));
    let query = json!({"queryParams": {"q": {"regex": "\\S+"}}});
    assert!(hit(query.clone(), &get("h", "/?q=a\u{a0}b")));
    assert!(!hit(query, &get("h", "/?q=a\tb")));
}

/// V-5 through the path index (a vhost of more than 8 routes): the first matching route in
/// declaration order still wins, whichever kind of path condition each route has, and a path
/// no condition can hold is refused.
#[test]
fn v5_first_match_wins_in_an_indexed_vhost() {
    let mut list: Vec<Value> = (0..40)
        .map(|i| {
            route(
                &format!("p{i}"),
                json!({"uri": {"prefix": format!("/p{i}/")}}),
                fwd("p"),
            )
        })
        .collect();
    // Earlier than the prefix it shadows, a header-gated exact path and a regex.
    list.insert(
        3,
        route(
            "exact-canary",
            json!({"uri": {"exact": "/p20/x"}, "headers": {"x-canary": {"exact": "1"}}}),
            fwd("e"),
        ),
    );
    list.insert(
        5,
        route("regex", json!({"uri": {"regex": "/p3[0-9]/y"}}), fwd("r")),
    );
    list.push(route(
        "ci",
        json!({"uri": {"prefix": "/CASE/"}, "ignoreUriCase": true}),
        fwd("c"),
    ));
    let gw = routes(list);
    let name = |req: &Req| route_name(&gw, req);
    assert_eq!(name(&get("h", "/p20/x")).as_deref(), Some("p20"));
    assert_eq!(
        name(&get("h", "/p20/x").header("x-canary", "1")).as_deref(),
        Some("exact-canary")
    );
    assert_eq!(name(&get("h", "/p35/y")).as_deref(), Some("regex"));
    assert_eq!(name(&get("h", "/p35/z")).as_deref(), Some("p35"));
    assert_eq!(name(&get("h", "/p39/")).as_deref(), Some("p39"));
    assert_eq!(name(&get("h", "/case/x")).as_deref(), Some("ci"));
    assert_eq!(refusal(&gw, &get("h", "/nothing")), Some(Refusal::NoRoute));
}
