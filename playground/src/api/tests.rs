use serde_json::{Value, json};

use super::*;

fn seed_wire() -> String {
    let compiled = compile(SEED_EXAMPLE, "");
    assert!(!compiled.has_errors, "{:?}", compiled.diagnostics);
    serde_json::to_string(&compiled.wire).unwrap()
}

fn explained(host: &str) -> Value {
    let request = json!({"host": host, "path": "/"}).to_string();
    serde_json::to_value(explain(&seed_wire(), &request)).unwrap()
}

#[test]
fn the_seed_example_routes_its_hosts() {
    let answer = explained("dev.example.com");
    let outcome = &answer["explanation"]["outcome"];
    assert_eq!(outcome["kind"], "forward", "{answer:#}");
    assert!(
        outcome["cluster"]
            .as_str()
            .unwrap()
            .contains("dev-upstream.demo.local"),
        "{answer:#}"
    );
    assert_eq!(answer["explanation"]["route"], "dev", "{answer:#}");
    assert!(answer["text"].as_str().unwrap().contains("dev-upstream"));
}

#[test]
fn a_host_no_server_lists_is_refused_with_istios_status() {
    let answer = explained("other.example.com");
    let outcome = &answer["explanation"]["outcome"];
    assert_eq!(outcome["kind"], "refused", "{answer:#}");
    assert_eq!(outcome["status"], 404, "{answer:#}");
    assert_eq!(outcome["code"], "host_not_allowed", "{answer:#}");
}

#[test]
fn a_yaml_error_points_at_its_line() {
    let compiled = compile("kind: Gateway\nspec: [unclosed\n", "");
    assert!(compiled.has_errors);
    let first = &compiled.diagnostics[0];
    assert_eq!(first.diagnostic["severity"], "error", "{first:?}");
    assert!(first.diagnostic["line"].as_u64().is_some(), "{first:?}");
    assert!(first.text.starts_with("error:"), "{}", first.text);
}

#[test]
fn the_identity_selects_the_gateways() {
    let compiled = compile(SEED_EXAMPLE, r#"{"labels": {"istio": "egressgateway"}}"#);
    let wire = compiled.wire.unwrap();
    assert!(wire.listeners.is_empty(), "{wire:?}");
    let compiled = compile(SEED_EXAMPLE, r#"{"labels": 3}"#);
    assert!(compiled.has_errors);
    assert!(compiled.wire.is_none());
}

#[test]
fn unreadable_input_is_an_error_not_a_panic() {
    let answer = explain("{", r#"{"host": "a"}"#);
    assert!(answer.error.unwrap().contains("unreadable"));
    let answer = explain(&seed_wire(), "GET / HTTP/1.1");
    assert!(answer.error.unwrap().contains("request is unreadable"));
    let answer = explain(&seed_wire(), r#"{"host": "a", "port": 9}"#);
    assert!(
        answer
            .error
            .unwrap()
            .contains("no HTTP listener on gateway port 9")
    );
}

#[test]
fn header_names_are_matched_lower_case() {
    let request = json!({"host": "dev.example.com", "headers": [["X-Any", "1"]]}).to_string();
    let answer = explain(&seed_wire(), &request);
    assert!(answer.explanation.is_some(), "{answer:?}");
}
