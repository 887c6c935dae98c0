//! Local responses.

use crate::abi;

/// Sends a local response. Only call it before response headers went downstream: the host
/// refuses later calls (the refusal is ignored; the response already under way goes on).
pub fn send(status: u16, headers: &[(&str, &str)], body: &str) {
    send_bytes(status, headers, body.as_bytes());
}

/// Sends a local response whose body is any bytes (a `directResponse` body need not be text).
pub fn send_bytes(status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let body = (!body.is_empty()).then_some(body);
    let _ = abi::send_local_response(u32::from(status), headers, body);
}

/// Sends a plain-text local response whose body explains the decision.
pub fn send_text(status: u16, extra_headers: &[(&str, &str)], body: &str) {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra_headers.len() + 1);
    headers.push(("content-type", "text/plain; charset=utf-8"));
    headers.extend_from_slice(extra_headers);
    send(status, &headers, body);
}
