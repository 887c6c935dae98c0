//! Mirrors through the .wasm (V-24): a fire-and-forget callout to the mirror cluster with the
//! `-shadow` authority; its answer (or failure) never affects the request.
#![allow(clippy::unwrap_used, reason = "test code")]

use portcullis_wasm_tests::Host;
use serde_json::{Value, json};

use crate::fixtures::{
    CLUSTER_HEADER, ROUTER_ROOT_ID, cluster, module, route, router, status_of, to, wire,
};

fn mirrored(percentage: f64) -> Value {
    let extra = json!({"mirrors": [{"cluster": cluster("shadow"), "percentage": percentage}]});
    wire(
        &["*"],
        vec![route("r", json!({}), to(&cluster("a")), extra)],
    )
}

/// V-24: the copy goes to the mirror cluster with `<authority>-shadow`, without the cluster
/// header; answering it with 500 changes nothing for the original request.
#[test]
fn mirror_dispatches_a_shadow_copy_and_ignores_its_answer() {
    let mut host = router(&mirrored(100.0));
    let mut s = host
        .http_request()
        .get("shop.example.com", "/cart?x=1")
        .header("x-user", "u1")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("a")));
    let callouts = s.host().pending_callouts();
    assert_eq!(callouts.len(), 1, "{callouts:?}");
    let c = &callouts[0];
    assert_eq!(c.cluster, cluster("shadow"));
    assert_eq!(c.header(":authority"), Some("shop.example.com-shadow"));
    assert_eq!(c.header(":path"), Some("/cart?x=1"));
    assert_eq!(c.header("x-user"), Some("u1"));
    assert!(c.header(CLUSTER_HEADER).is_none());
    let token = c.token;
    s.host().answer_callout(token, 500, &[], b"boom").unwrap();
    s.respond_headers(200, &[], true);
    assert!(s.local_response().is_none());
    s.finish();
    assert!(host.failures().is_empty());
    assert_eq!(
        host.metrics().counter("portcullis.router.mirrored"),
        Some(1)
    );
}

/// V-24: a mirror percentage is drawn per request.
#[test]
fn mirror_percentage_is_drawn_per_request() {
    let mut host = router(&mirrored(25.0));
    for _ in 0..2000 {
        let s = host
            .http_request()
            .get("h", "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(status_of(&s), 0);
        s.finish();
    }
    let n = host
        .metrics()
        .counter("portcullis.router.mirrored")
        .unwrap();
    assert!((400..=600).contains(&n), "{n} of 2000");
}

/// A mirror cluster Envoy does not know: the dispatch is refused, counted, and the request
/// still goes upstream.
#[test]
fn refused_mirror_dispatch_is_counted_and_the_request_proceeds() {
    let config = mirrored(100.0);
    let mut host = Host::builder(&module("portcullis-router"))
        .plugin_config(config.to_string())
        .root_id(ROUTER_ROOT_ID)
        .property("destination.port", 80i64)
        .clusters([cluster("a")])
        .route_cluster_header(CLUSTER_HEADER)
        .build()
        .unwrap();
    let s = host
        .http_request()
        .get("h", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(s.upstream_cluster(), Some(cluster("a")));
    let m = host.metrics();
    assert_eq!(
        m.counter("portcullis.router.mirror_failed"),
        Some(1),
        "{}",
        host.report()
    );
    assert_eq!(m.counter("portcullis.router.mirrored"), Some(0));
}
