//! Golden test of the wire format's JSON Schema (`crds/wire-config.v1.schema.json`).
//! Regenerate with `PORTCULLIS_BLESS=1 cargo test -p portcullis-core --features schema --test schema`
//! (or `cargo xtask gen`).
#![cfg(feature = "schema")]

use std::path::Path;

use portcullis_core::wire::WireConfig;

#[test]
fn wire_config_schema_matches_the_committed_file() {
    let schema = schemars::schema_for!(WireConfig);
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds/wire-config.v1.schema.json");
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run `cargo xtask gen` and commit the result",
        path.display()
    );
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
