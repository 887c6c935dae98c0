//! The GatewayFilter CRD: generated into `crds/` (drift fails here; `cargo xtask gen`
//! regenerates), a structural schema as the API server requires, with the status subresource,
//! printer columns and the CEL rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use kube::CustomResourceExt;
use portcullis_controller::GatewayFilter;
use serde_json::Value;

fn crd() -> Value {
    serde_json::to_value(GatewayFilter::crd()).unwrap()
}

#[test]
fn the_committed_crd_is_the_generated_one() {
    let yaml = serde_saphyr::to_string(&GatewayFilter::crd()).unwrap();
    let text = format!(
        "# Generated from operator/controller/src/crd.rs by `cargo xtask gen`; do not edit.\n{yaml}"
    );
    expect_test::expect_file!["../../../../crds/gatewayfilters.portcullis.dev.yaml"]
        .assert_eq(&text);
}

/// The API server's structural-schema rules (apiextensions.k8s.io/v1): every node has a
/// `type` (unless it preserves unknown fields or is int-or-string), no `$ref`, no
/// `additionalProperties` beside `properties`, and metadata only as a plain object.
fn structural(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    let open = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !open && !map.contains_key("type") {
        problems.push(format!("{path}: no type"));
    }
    for forbidden in ["$ref", "definitions", "$defs", "$schema"] {
        if map.contains_key(forbidden) {
            problems.push(format!("{path}: {forbidden}"));
        }
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        problems.push(format!("{path}: properties and additionalProperties"));
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for (i, branch) in map
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            // Inside a combinator, a node may only restrict values: no types of its own.
            if branch.get("type").is_some() && branch.get("type") != map.get("type") {
                problems.push(format!(
                    "{path}.{combinator}[{i}]: type inside a combinator"
                ));
            }
        }
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            structural(sub, &format!("{path}.{name}"), problems);
        }
    }
    if let Some(items) = map.get("items") {
        structural(items, &format!("{path}[]"), problems);
    }
    if let Some(additional) = map.get("additionalProperties").filter(|a| a.is_object()) {
        structural(additional, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn the_schema_is_structural_with_a_status_subresource() {
    let crd = crd();
    assert_eq!(crd["spec"]["group"], "portcullis.dev");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let versions = crd["spec"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "one served version");
    let v = &versions[0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(v["subresources"]["status"], serde_json::json!({}));
    let schema = &v["schema"]["openAPIV3Schema"];
    let mut problems = Vec::new();
    structural(schema, "openAPIV3Schema", &mut problems);
    assert!(
        problems.is_empty(),
        "not structural:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        schema["properties"]["spec"]["required"],
        serde_json::json!(["selector"])
    );
    let columns: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Workload",
            "Accepted",
            "Programmed",
            "Proxies",
            "Hosts",
            "Routes",
            "Hash",
            "Age"
        ]
    );
}

#[test]
fn cel_rules_guard_the_selector_and_the_audit_sink() {
    let crd = crd();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let selector = &spec["properties"]["selector"]["x-kubernetes-validations"][0];
    assert_eq!(selector["rule"], "size(self.matchLabels) > 0");
    let sink = &spec["properties"]["audit"]["properties"]["sink"]["x-kubernetes-validations"][0];
    assert_eq!(sink["rule"], "self == 'log' || self.startsWith('http://')");
}

/// The check itself finds what the API server would refuse.
#[test]
fn the_structural_check_finds_untyped_nodes_and_refs() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"$ref": "#/definitions/B", "type": "object"},
            "c": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
        }
    });
    let mut problems = Vec::new();
    structural(&bad, "root", &mut problems);
    assert_eq!(
        problems,
        [
            "root.a: no type",
            "root.b: $ref",
            "root.c: properties and additionalProperties"
        ]
    );
}
