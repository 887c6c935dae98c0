//! The compiler's diagnostics are located in the YAML: at the field they name, else at the
//! nearest enclosing field the author wrote, else at the resource.

use super::*;

/// A diagnostic's field and `(line, column)`.
type Located = (Option<String>, Option<(u32, u32)>);

/// Field and `(line, column)` of the diagnostics citing `rule`.
fn located(out: &CompileOutput, rule: &str) -> Vec<Located> {
    with_rule(out, rule)
        .into_iter()
        .map(|d| (d.field.clone(), d.location.map(|l| (l.line(), l.column()))))
        .collect()
}

/// An invalid regex (V-10) is reported at its field, counted from the start of the file: the
/// VirtualService is the second document.
#[test]
fn v10_invalid_regex_is_located_at_its_field() {
    let yaml = gateway("default", "gw", "['*']")
        + "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - name: r
    match:
    - uri: {exact: /ok}
    - uri:
        regex: '('
    route: [{destination: {host: a.example.org}}]
";
    let out = compile_yaml(&yaml);
    assert_eq!(
        located(&out, "V-10"),
        [(Some("spec.http[0].match[1].uri".into()), Some((20, 7)))]
    );
    let d = with_rule(&out, "V-10")[0];
    let text = d.to_string();
    assert!(
        text.starts_with(
            "error: VirtualService default/v (test.yaml:20:7) at spec.http[0].match[1].uri: "
        ),
        "{text}"
    );
    assert!(text.ends_with("; match block dropped [V-10]"), "{text}");
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(
        (json["line"].clone(), json["column"].clone()),
        (20.into(), 7.into())
    );
}

/// A cluster problem found after routing (V-18) is located where the destination is written.
#[test]
fn v18_unknown_subset_is_located_at_the_destination() {
    let yaml = gateway("default", "gw", "['*']")
        + "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route:
    - destination: {host: a.example.org, subset: v9}
";
    let out = compile_yaml(&yaml);
    assert_eq!(
        located(&out, "V-18"),
        [(
            Some("spec.http[0].route[0].destination".into()),
            Some((18, 7))
        )]
    );
}

/// A field the compiler names but the author left out falls back to the nearest enclosing
/// field; a resource without a field path is located at its document.
#[test]
fn missing_fields_and_whole_resources_fall_back() {
    let yaml = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}
spec:
  selector: {istio: ingressgateway}
";
    let loaded = load_str(yaml, Some("dup.yaml"));
    let out = compile(
        &loaded.resources,
        &GatewayIdentity::default(),
        &CompileOptions::default(),
    );
    // The later copy (Istio order: by creation time) is the one ignored, at its document.
    let dup = out
        .diagnostics
        .iter()
        .find(|d| d.message.contains("defined more than once"))
        .unwrap();
    assert_eq!(dup.location.map(|l| l.line()), Some(10));

    let vs = &load_str(
        "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  http:
  - route: []
",
        None,
    )
    .resources
    .virtual_services[0];
    let at = |field: &str| vs.locate(field).map(|l| (l.line(), l.column()));
    assert_eq!(at("spec.http[0].route[0].destination.host"), Some((6, 5)));
    assert_eq!(at("spec.hosts"), Some((4, 1)));
    assert_eq!(at("status.x"), Some((1, 1)));
}
