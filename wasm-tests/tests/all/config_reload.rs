//! Configuration updates through the .wasm: a valid update switches routing; a bad one makes
//! `on_configure` return false, is counted and logged, and the previous config keeps serving.
#![allow(clippy::unwrap_used, reason = "test code")]

use serde_json::json;

use crate::fixtures::{
    EGRESS_AUDIT_ROOT_ID, cluster, egress_builder, egress_wire, route, router_builder, status_of,
    to, wire,
};

fn v(version: &str, target: &str) -> serde_json::Value {
    let mut c = wire(
        &["*"],
        vec![route("r", json!({}), to(&cluster(target)), json!({}))],
    );
    c["configVersion"] = json!(version);
    c
}

/// A good update routes new requests by the new config; the version gauge changes.
#[test]
fn valid_update_switches_routing_and_the_version_gauge() {
    let mut host = router_builder(&v("sha256:aaaaaaaaaaaaaaaa", "old"))
        .clusters([cluster("new")])
        .workers(2)
        .build()
        .unwrap();
    let gauge =
        |h: &portcullis_wasm_tests::Host| h.metrics().gauge("portcullis.router.config_version");
    let before = gauge(&host);
    assert_eq!(
        host.reconfigure(v("sha256:bbbbbbbbbbbbbbbb", "new").to_string())
            .unwrap(),
        [true, true]
    );
    for _ in 0..2 {
        let s = host
            .http_request()
            .get("h", "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(s.upstream_cluster(), Some(cluster("new")));
    }
    assert_ne!(gauge(&host), before);
    assert_eq!(gauge(&host), Some(0xb_bbbb_bbbb_bbbb));
    assert_eq!(
        host.metrics().counter("portcullis.router.config_accepted"),
        Some(4)
    );
}

/// Bad updates (invalid JSON, unknown field, bad regex, wrong version, duplicate domain) are
/// rejected by on_configure; the old config keeps serving and each rejection is counted.
#[test]
fn bad_update_is_rejected_and_the_old_config_keeps_serving() {
    let mut host = router_builder(&v("sha256:good", "old")).build().unwrap();
    let mut bad_regex = v("sha256:bad", "new");
    bad_regex["listeners"][0]["virtualHosts"][0]["routes"][0]["match"] =
        json!({"uri": {"regex": "(unclosed"}});
    let mut unknown_field = v("sha256:bad", "new");
    unknown_field["listeners"][0]["surprise"] = json!(1);
    let mut wrong_version = v("sha256:bad", "new");
    wrong_version["version"] = json!(99);
    let mut duplicate = v("sha256:bad", "new");
    let vh = duplicate["listeners"][0]["virtualHosts"][0].clone();
    duplicate["listeners"][0]["virtualHosts"]
        .as_array_mut()
        .unwrap()
        .push(vh);
    let bad = [
        "{not json".to_string(),
        bad_regex.to_string(),
        unknown_field.to_string(),
        wrong_version.to_string(),
        duplicate.to_string(),
    ];
    for config in &bad {
        assert_eq!(
            host.reconfigure(config.as_str()).unwrap(),
            [false],
            "{config}"
        );
        let s = host
            .http_request()
            .get("h", "/")
            .send_headers_only()
            .unwrap();
        assert_eq!(
            s.upstream_cluster(),
            Some(cluster("old")),
            "{config}: {}",
            s.host_report()
        );
    }
    let m = host.metrics();
    assert_eq!(m.counter("portcullis.router.config_rejected"), Some(5));
    assert_eq!(m.counter("portcullis.router.config_accepted"), Some(1));
    let logs = host.log_messages();
    assert!(
        logs.iter()
            .any(|l| l.contains("rejected config") && l.contains("regex")),
        "{logs:#?}"
    );
}

/// The egress filter also rejects a bad update (no egress section, port 0) and keeps its
/// allow-list.
#[test]
fn egress_rejects_a_bad_update_and_keeps_its_allow_list() {
    let good = egress_wire(json!({"allowedHosts": [{"host": "api.example.com", "rule": "SE a"}]}));
    let mut host = egress_builder(&good, EGRESS_AUDIT_ROOT_ID).build().unwrap();
    let mut no_egress = good.clone();
    no_egress.as_object_mut().unwrap().remove("egress");
    let port_zero =
        egress_wire(json!({"allowedHosts": [{"host": "evil.com", "ports": [0], "rule": "SE b"}]}));
    for bad in [no_egress, port_zero] {
        assert_eq!(host.reconfigure(bad.to_string()).unwrap(), [false]);
    }
    let s = host
        .http_request()
        .get("api.example.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 0);
    s.finish();
    let s = host
        .http_request()
        .get("evil.com", "/")
        .send_headers_only()
        .unwrap();
    assert_eq!(status_of(&s), 404);
    assert_eq!(
        host.metrics().counter("portcullis.egress.config_rejected"),
        Some(2)
    );
}
