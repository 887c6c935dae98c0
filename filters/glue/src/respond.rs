//! Local responses.

use proxy_wasm::hostcalls;

/// Sends a local response. Only call it before response headers went downstream (the host
/// refuses later calls, and the SDK would panic on that status).
pub fn send(status: u16, headers: &[(&str, &str)], body: &str) {
    let body = (!body.is_empty()).then_some(body.as_bytes());
    let _ = hostcalls::send_http_response(u32::from(status), headers.to_vec(), body);
}

/// Sends a plain-text local response whose body explains the decision.
pub fn send_text(status: u16, extra_headers: &[(&str, &str)], body: &str) {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra_headers.len() + 1);
    headers.push(("content-type", "text/plain; charset=utf-8"));
    headers.extend_from_slice(extra_headers);
    send(status, &headers, body);
}
