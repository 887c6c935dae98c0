//! Host calls that never panic: each failure becomes a default (`None`, empty, `false`) the
//! caller decides on, and each call goes through [`crate::abi`].

use std::time::Duration;

use proxy_wasm::types::{BufferType, LogLevel, MapType};

use crate::abi;

/// Logs at `level`; logging failures are ignored (there is nowhere else to report them).
pub fn log(level: LogLevel, message: &str) {
    let _ = abi::log(level, message);
}

/// A request header's first value, if present. Values are read as bytes and converted lossily:
/// Envoy forwards obs-text bytes that are not UTF-8, and the SDK's string variant would panic.
pub fn request_header(name: &str) -> Option<String> {
    abi::header(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .map(lossy)
}

/// All request headers, in order (names and values converted lossily, as for
/// [`request_header`]).
pub fn request_headers() -> Vec<(String, String)> {
    abi::headers(MapType::HttpRequestHeaders)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (lossy(name), lossy(value)))
        .collect()
}

/// A header of the answer to an HTTP callout (in `on_http_call_response`).
pub fn http_call_response_header(name: &str) -> Option<String> {
    abi::header(MapType::HttpCallResponseHeaders, name)
        .ok()
        .flatten()
        .map(lossy)
}

/// The body of the answer to an HTTP callout, up to `max_size` bytes.
pub fn http_call_response_body(max_size: usize) -> Option<Vec<u8>> {
    abi::buffer(BufferType::HttpCallResponseBody, 0, max_size)
        .ok()
        .flatten()
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Overwrites (or adds) a request header.
pub fn set_request_header(name: &str, value: &str) {
    let _ = abi::replace_header(MapType::HttpRequestHeaders, name, value.as_bytes());
}

/// Appends a request header value.
pub fn add_request_header(name: &str, value: &str) {
    let _ = abi::add_header(MapType::HttpRequestHeaders, name, value.as_bytes());
}

/// Removes a request header (no-op when absent).
pub fn remove_request_header(name: &str) {
    let _ = abi::remove_header(MapType::HttpRequestHeaders, name);
}

/// Overwrites (or adds) a response header.
pub fn set_response_header(name: &str, value: &str) {
    let _ = abi::replace_header(MapType::HttpResponseHeaders, name, value.as_bytes());
}

/// Appends a response header value.
pub fn add_response_header(name: &str, value: &str) {
    let _ = abi::add_header(MapType::HttpResponseHeaders, name, value.as_bytes());
}

/// Removes a response header.
pub fn remove_response_header(name: &str) {
    let _ = abi::remove_header(MapType::HttpResponseHeaders, name);
}

/// Raw property bytes (`None` when absent or unreadable).
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    abi::property(path).ok().flatten()
}

/// A property encoded as UTF-8 text.
pub fn property_string(path: &[&str]) -> Option<String> {
    property(path).and_then(|bytes| String::from_utf8(bytes).ok())
}

/// An integer property (Envoy encodes int64/uint64 as 8 little-endian bytes).
pub fn property_u64(path: &[&str]) -> Option<u64> {
    let bytes = property(path)?;
    let array: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(array))
}

/// The connection's destination port (`destination.port`; 0 when the host cannot tell).
pub fn destination_port() -> u16 {
    property_u64(&["destination", "port"])
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0)
}

/// Whether the host logs this plugin at debug level or finer (trace 0, debug 1).
pub fn debug_logging() -> bool {
    abi::log_level().is_ok_and(|level| level <= 1)
}

/// Current time in nanoseconds since the Unix epoch (0 if the host cannot tell).
pub fn now_nanos() -> u64 {
    abi::current_time_nanos().unwrap_or(0)
}

/// Current time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    now_nanos() / 1_000_000
}

/// Asks Envoy to recompute the route (the `clear_route_cache` foreign function). Filters built
/// for ABI 0.2.1 do not need it after a request-header write, which clears the route already
/// (see `portcullis_core::apply::apply_forward`); a module for a newer ABI would. Returns
/// whether the host honoured it.
pub fn clear_route_cache() -> bool {
    abi::call_foreign_function("clear_route_cache", &[]).is_ok()
}

/// Sets (0 disables) the root context's tick period.
pub fn set_tick_period(period: Duration) {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    let _ = abi::set_tick_period_ms(millis);
}

/// Closes the downstream connection of the current stream.
pub fn close_downstream() {
    let _ = abi::close_downstream();
}
