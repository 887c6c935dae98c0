//! A-1: a resource Istio would refuse keeps its accepted version serving; a piece Portcullis
//! cannot serve is dropped and the rest serves.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use portcullis_compile::admission::Admission;
use portcullis_compile::compile::{CompileOptions, CompileOutput, GatewayIdentity};
use portcullis_compile::diagnostics::{Effect, Severity, keeps_last_good};
use portcullis_compile::load::load_str;

const GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL}
"#;

fn virtual_service(name: &str, prefix: &str, destination: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{{uri: {{prefix: {prefix}}}}}]
    route: [{{destination: {{host: {destination}, port: {{number: 9080}}}}}}]
"#
    )
}

/// A VirtualService Istio's validation refuses: a regex RE2 cannot parse.
const INVALID_REVIEWS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {regex: "/reviews(("}}]
    route: [{destination: {host: reviews-v2, port: {number: 9080}}}]
"#;

fn admit(admission: &mut Admission, documents: &[&str]) -> CompileOutput {
    let loaded = load_str(&documents.join("\n---\n"), Some("bookinfo.yaml"));
    let mut out = admission.compile(
        &loaded.resources,
        &loaded.diagnostics,
        &GatewayIdentity::default(),
        &CompileOptions::default(),
    );
    out.diagnostics.extend(loaded.diagnostics);
    out
}

/// Every route's cluster, in order, over every listener.
fn clusters(out: &CompileOutput) -> Vec<String> {
    let json = serde_json::to_value(&out.wire).unwrap();
    let mut found = Vec::new();
    collect(&json, &mut found);
    found
}

fn collect(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "cluster" {
                    found.push(v.as_str().unwrap_or_default().to_string());
                } else {
                    collect(v, found);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

fn errors_about<'a>(out: &'a CompileOutput, resource: &str) -> Vec<&'a str> {
    out.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.resource == resource)
        .map(|d| d.message.as_str())
        .collect()
}

#[test]
fn an_unsupported_server_is_dropped_and_the_rest_of_the_gateway_serves() {
    let productpage = virtual_service("bookinfo", "/productpage", "productpage");
    let out = admit(&mut Admission::default(), &[GATEWAY, &productpage]);
    let mongo = out
        .diagnostics
        .iter()
        .find(|d| d.field.as_deref() == Some("spec.servers[1].tls.mode"))
        .expect("the ISTIO_MUTUAL server is reported");
    assert_eq!(mongo.effect, Some(Effect::DropsPiece));
    assert!(!keeps_last_good(&out.diagnostics));
    assert_eq!(out.wire.listeners.len(), 1, "port 80 serves");
    assert_eq!(
        clusters(&out),
        ["outbound|9080||productpage.default.svc.cluster.local"]
    );
}

#[test]
fn an_invalid_edit_keeps_the_version_accepted_before() {
    let mut admission = Admission::default();
    let reviews_v1 = virtual_service("reviews", "/reviews", "reviews-v1");
    let productpage = virtual_service("bookinfo", "/productpage", "productpage");
    let first = admit(&mut admission, &[GATEWAY, &productpage, &reviews_v1]);
    assert!(errors_about(&first, "VirtualService default/reviews").is_empty());

    // The edit is invalid: reviews-v1 keeps serving, and the other resources' edits apply.
    let productpage_v2 = virtual_service("bookinfo", "/productpage", "productpage-v2");
    let second = admit(&mut admission, &[GATEWAY, &productpage_v2, INVALID_REVIEWS]);
    let errors = errors_about(&second, "VirtualService default/reviews");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("the version accepted before keeps serving")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|m| m.contains("match block dropped")),
        "{errors:?}"
    );
    let served = clusters(&second);
    assert!(served.contains(&"outbound|9080||reviews-v1.default.svc.cluster.local".to_string()));
    assert!(
        served.contains(&"outbound|9080||productpage-v2.default.svc.cluster.local".to_string())
    );
    assert!(
        !served.iter().any(|c| c.contains("reviews-v2")),
        "{served:?}"
    );

    // Mended, it serves; deleted, it is gone.
    let reviews_v3 = virtual_service("reviews", "/reviews", "reviews-v3");
    let third = admit(&mut admission, &[GATEWAY, &productpage_v2, &reviews_v3]);
    assert!(clusters(&third).iter().any(|c| c.contains("reviews-v3")));
    let fourth = admit(&mut admission, &[GATEWAY, &productpage_v2]);
    assert!(!clusters(&fourth).iter().any(|c| c.contains("reviews")));
}

#[test]
fn an_invalid_resource_with_no_accepted_version_is_left_out() {
    let productpage = virtual_service("bookinfo", "/productpage", "productpage");
    let out = admit(
        &mut Admission::default(),
        &[GATEWAY, &productpage, INVALID_REVIEWS],
    );
    let errors = errors_about(&out, "VirtualService default/reviews");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("not served until it is mended")),
        "{errors:?}"
    );
    // Left out as a whole: not even its valid parts (its route) are served.
    assert_eq!(
        clusters(&out),
        ["outbound|9080||productpage.default.svc.cluster.local"]
    );
}

#[test]
fn a_resource_the_loader_cannot_type_keeps_its_accepted_version() {
    let mut admission = Admission::default();
    let reviews_v1 = virtual_service("reviews", "/reviews", "reviews-v1");
    admit(&mut admission, &[GATEWAY, &reviews_v1]);
    let mistyped = reviews_v1.replace("hosts: [\"*\"]", "hosts: {a: b}");
    let out = admit(&mut admission, &[GATEWAY, &mistyped]);
    assert!(
        errors_about(&out, "VirtualService default/reviews")
            .iter()
            .any(|m| m.contains("the version accepted before keeps serving"))
    );
    assert!(clusters(&out).iter().any(|c| c.contains("reviews-v1")));
}

#[test]
fn unreadable_input_keeps_the_last_good_configuration_and_is_not_remembered() {
    let mut admission = Admission::default();
    let reviews_v1 = virtual_service("reviews", "/reviews", "reviews-v1");
    admit(&mut admission, &[GATEWAY, &reviews_v1]);
    let out = admit(&mut admission, &[GATEWAY, "kind: [unclosed"]);
    assert!(keeps_last_good(&out.diagnostics));
    // The next readable change still finds reviews-v1 accepted.
    let out = admit(&mut admission, &[GATEWAY, INVALID_REVIEWS]);
    assert!(clusters(&out).iter().any(|c| c.contains("reviews-v1")));
}

/// A root delegating `/reviews` to the delegate `reviews-routes` (V-25).
const ROOT: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews-routes}
"#;

fn delegate(regex: &str, destination: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews-routes}}
spec:
  http:
  - match: [{{headers: {{x-user: {{regex: "{regex}"}}}}}}]
    route: [{{destination: {{host: {destination}, port: {{number: 9080}}}}}}]
"#
    )
}

/// V-25 with A-1: an invalid edit of a delegate refuses the delegate, not its root; the
/// delegate's accepted version keeps serving through the root.
#[test]
fn an_invalid_delegate_edit_keeps_the_accepted_delegate() {
    let mut admission = Admission::default();
    let out = admit(
        &mut admission,
        &[GATEWAY, ROOT, &delegate("a.*", "reviews-v1")],
    );
    assert_eq!(
        clusters(&out),
        ["outbound|9080||reviews-v1.default.svc.cluster.local"]
    );

    let out = admit(
        &mut admission,
        &[GATEWAY, ROOT, &delegate("a((", "reviews-v2")],
    );
    assert_eq!(
        clusters(&out),
        ["outbound|9080||reviews-v1.default.svc.cluster.local"],
        "{:#?}",
        out.diagnostics
    );
    let refused: Vec<&str> = out
        .diagnostics
        .iter()
        .filter(|d| d.rule == Some("A-1"))
        .map(|d| d.resource.as_str())
        .collect();
    assert_eq!(refused, ["VirtualService default/reviews-routes"]);
}
