//! Golden test of the wire format's JSON Schema (`crds/wire-config.v1.schema.json`).
//! Regenerate with `cargo xtask gen`.
#![cfg(feature = "schema")]

use std::path::Path;

use portcullis_core::wire::WireConfig;

#[test]
fn wire_config_schema_matches_the_committed_file() {
    let schema = schemars::schema_for!(WireConfig);
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds/wire-config.v1.schema.json");
    expect_test::ExpectFile {
        path,
        position: file!(),
    }
    .assert_eq(&generated);
}

#[test]
fn schema_rejects_unknown_fields_like_the_parser() {
    let schema = serde_json::to_value(schemars::schema_for!(WireConfig)).unwrap();
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let error = WireConfig::from_json(br#"{"version":1,"configVersion":"x","listners":[]}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `listners`"), "{error}");
}
