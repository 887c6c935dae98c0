//! What a decision reads: the filters skip the host calls for `:path`, `:method`, `:scheme` and
//! the bind port when the config says its decisions do not use them (`needs_path`,
//! `needs_method`, `needs_scheme`, `sole_bind_port`). These tests hold the core to that: whenever a config says it does not
//! need a value, leaving it empty never changes a decision.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// One route of each kind that may read the method or the scheme, and plain ones.
fn route_kind() -> impl Strategy<Value = Value> {
    let pieces: Vec<Value> = vec![
        route("plain", json!({}), fwd("plain")),
        route("prefix", json!({"uri": {"prefix": "/a"}}), fwd("prefix")),
        route("get", json!({"method": {"exact": "GET"}}), fwd("get")),
        route(
            "post",
            json!({"method": {"regex": "POST|PUT"}}),
            fwd("post"),
        ),
        route("https", json!({"scheme": {"exact": "https"}}), fwd("https")),
        route(
            "pseudo-method",
            json!({"headers": {":method": {"exact": "GET"}}}),
            fwd("pseudo-method"),
        ),
        route(
            "no-pseudo-scheme",
            json!({"withoutHeaders": {":scheme": {"exact": "http"}}}),
            fwd("no-pseudo-scheme"),
        ),
        route(
            "header",
            json!({"headers": {"x-a": {"exact": "1"}}}),
            fwd("header"),
        ),
        route(
            "query",
            json!({"queryParams": {"q": {"exact": "1"}}}),
            fwd("query"),
        ),
        route(
            "pseudo-path",
            json!({"headers": {":path": {"prefix": "/a"}}}),
            fwd("pseudo-path"),
        ),
        route(
            "rewrite",
            json!({}),
            json!({"route": {"destinations": [{"cluster": "rewrite", "weight": 100}],
                "rewrite": {"uri": "/v2"}}}),
        ),
        route(
            "redirect",
            json!({"uri": {"prefix": "/r"}}),
            json!({"redirect": {"uri": "/moved"}}),
        ),
        route(
            "redirect-https",
            json!({"uri": {"prefix": "/s"}}),
            json!({"redirect": {"scheme": "https"}}),
        ),
        {
            let mut r = route("cors", json!({"uri": {"prefix": "/c"}}), fwd("cors"));
            r["cors"] = json!({"allowOrigins": [{"exact": "https://app.example.com"}],
                "allowMethods": ["GET", "POST"]});
            r
        },
    ];
    proptest::sample::select(pieces)
}

fn request() -> impl Strategy<Value = Req> {
    (
        proptest::sample::select(vec![
            "/", "/a", "/a/b", "/r", "/s/x", "/c", "/a?q=1", "/?q=2",
        ]),
        proptest::sample::select(vec!["GET", "POST", "PUT", "OPTIONS", "HEAD"]),
        proptest::sample::select(vec!["http", "https"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(path, method, scheme, origin, x_a)| {
            let mut req = get("h.example.com", path).method(method).scheme(scheme);
            if origin {
                req = req
                    .header("origin", "https://app.example.com")
                    .header("access-control-request-method", "POST");
            }
            if x_a {
                req = req.header("x-a", "1");
            }
            req
        })
}

/// The outcome and the evidence, as text: what a filter does with a decision.
fn decided(gw: &portcullis_core::Gateway, req: &Req) -> String {
    let d = decide(gw, req);
    format!("{:?} {:?}", d.outcome, d.evidence.route)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A config that does not need `:path` (or `:method`, or `:scheme`) decides every request
    /// the same with it left empty, as the filters then leave it.
    #[test]
    fn values_a_config_does_not_need_never_change_its_decisions(
        kinds in proptest::collection::vec(route_kind(), 1..6),
        req in request(),
    ) {
        let gw = routes(kinds);
        let with_all = decided(&gw, &req);
        if !gw.needs_method() {
            prop_assert_eq!(&decided(&gw, &req.clone().method("")), &with_all);
        }
        if !gw.needs_scheme() {
            prop_assert_eq!(&decided(&gw, &req.clone().claimed_scheme("")), &with_all);
        }
        if !gw.needs_path() {
            let mut pathless = req.clone();
            pathless.path = String::new();
            prop_assert_eq!(&decided(&gw, &pathless), &with_all);
        }
        if !gw.needs_method() && !gw.needs_scheme() && !gw.needs_path() {
            let mut bare = req.clone().method("").claimed_scheme("");
            bare.path = String::new();
            prop_assert_eq!(&decided(&gw, &bare), &with_all);
        }
    }
}

/// Each kind of route that reads a value says so; the others do not.
#[test]
fn the_config_says_which_values_its_decisions_read() {
    // (path, method, scheme)
    let needs = |matcher: Value, action: Value| {
        let gw = routes(vec![route("r", matcher, action)]);
        (gw.needs_path(), gw.needs_method(), gw.needs_scheme())
    };
    let none = (false, false, false);
    assert_eq!(needs(json!({}), fwd("c")), none);
    assert_eq!(
        needs(json!({"headers": {"x-a": {"exact": "1"}}}), fwd("c")),
        none
    );
    assert_eq!(needs(json!({"authority": {"exact": "a"}}), fwd("c")), none);
    assert_eq!(
        needs(json!({"uri": {"prefix": "/"}}), fwd("c")),
        (true, false, false)
    );
    assert_eq!(
        needs(json!({"queryParams": {"q": {"exact": "1"}}}), fwd("c")),
        (true, false, false)
    );
    assert_eq!(
        needs(json!({"headers": {":path": {"exact": "/"}}}), fwd("c")),
        (true, false, false)
    );
    let rewrite = json!({"route": {"destinations": [{"cluster": "c", "weight": 100}],
        "rewrite": {"uri": "/v2"}}});
    assert_eq!(needs(json!({}), rewrite), (true, false, false));
    let authority_rewrite = json!({"route": {"destinations": [{"cluster": "c", "weight": 100}],
        "rewrite": {"authority": "b"}}});
    assert_eq!(needs(json!({}), authority_rewrite), none);
    assert_eq!(
        needs(json!({"method": {"exact": "GET"}}), fwd("c")),
        (false, true, false)
    );
    assert_eq!(
        needs(json!({"headers": {":method": {"exact": "GET"}}}), fwd("c")),
        (false, true, false)
    );
    assert_eq!(
        needs(json!({"scheme": {"exact": "https"}}), fwd("c")),
        (false, false, true)
    );
    assert_eq!(
        needs(
            json!({"withoutHeaders": {":scheme": {"exact": "http"}}}),
            fwd("c")
        ),
        (false, false, true)
    );
    assert_eq!(
        needs(json!({}), json!({"redirect": {"uri": "/x"}})),
        (true, false, true)
    );
    let mut cors = route("r", json!({}), fwd("c"));
    cors["cors"] = json!({"allowOrigins": [{"exact": "https://a"}]});
    let gw = routes(vec![cors]);
    assert_eq!(
        (gw.needs_path(), gw.needs_method(), gw.needs_scheme()),
        (false, true, false)
    );
    // An https redirect keeps the path.
    let mut redirecting = server("s", &["*"]);
    redirecting["httpsRedirect"] = json!(true);
    let gw = gateway(config(vec![listener(80, vec![redirecting], vec![])]));
    assert!(gw.needs_path());
}

/// One listener: every request arrives on its bind port, so the filters need not ask. Several
/// listeners: they must.
#[test]
fn a_single_listener_names_its_bind_port() {
    let one = gateway(config(vec![listener(
        80,
        vec![server("s", &["*"])],
        vec![],
    )]));
    assert_eq!(one.sole_bind_port(), Some(80));
    let mut bound = listener(80, vec![server("s", &["*"])], vec![]);
    bound["bindPort"] = json!(10080);
    assert_eq!(gateway(config(vec![bound])).sole_bind_port(), Some(10080));
    let two = gateway(config(vec![
        listener(80, vec![server("a", &["*"])], vec![]),
        listener(81, vec![server("b", &["*"])], vec![]),
    ]));
    assert_eq!(two.sole_bind_port(), None);
    // The port it names is the one decisions look the listener up by.
    let gw = routes(vec![route("r", json!({}), fwd("c"))]);
    let port = gw.sole_bind_port().unwrap_or_default();
    assert_eq!(
        cluster(&gw, &get("h", "/").port(port)).as_deref(),
        Some("c")
    );
}
