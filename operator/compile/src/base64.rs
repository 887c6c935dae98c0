//! Base64 as Kubernetes writes it (Secret `data`, `directResponse.body.bytes`): the standard
//! alphabet with padding; line breaks that YAML block scalars leave in are ignored.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Decodes standard base64, ignoring ASCII whitespace.
pub fn decode(input: &str) -> Result<Vec<u8>, String> {
    let compact: String = input.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| format!("invalid base64: {e}"))
}
