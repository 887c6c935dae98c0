//! The routing playground's engine: Portcullis's own compile step and the filters' own
//! decision (`portcullis_compile`, `portcullis_core`), exposed to JavaScript with wasm-bindgen.
//! Nothing here decides anything: [`api`] converts JSON in and out of the crates that run in
//! the CLI and in Envoy, so the page gives the answers `portcullis explain` gives.
//!
//! The exports take and return JSON text (the page parses it), which keeps the boundary to
//! strings and the bundle free of a serialisation bridge.

pub mod api;

use wasm_bindgen::prelude::wasm_bindgen;

/// The Portcullis version this playground was built from.
#[wasm_bindgen]
pub fn version() -> String {
    api::VERSION.to_string()
}

/// The seed example (Gateway, VirtualServices, ServiceEntries) as one YAML text.
#[wasm_bindgen(js_name = seedExample)]
pub fn seed_example() -> String {
    api::SEED_EXAMPLE.to_string()
}

/// Compiles `yaml` for the gateway workload `identity_json` (`{"labels": {...}, "namespace":
/// "..."}`); returns [`api::Compiled`] as JSON.
#[wasm_bindgen]
pub fn compile(yaml: &str, identity_json: &str) -> String {
    api::to_json(&api::compile(yaml, identity_json))
}

/// Explains `request_json` ([`api::Request`]) against `wire_json` (the `wire` of a
/// compilation); returns [`api::Explained`] as JSON.
#[wasm_bindgen]
pub fn explain(wire_json: &str, request_json: &str) -> String {
    api::to_json(&api::explain(wire_json, request_json))
}
