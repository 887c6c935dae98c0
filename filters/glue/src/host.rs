//! Host calls that never panic on an unexpected status.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MapType};

/// Logs at `level`; logging failures are ignored (there is nowhere else to report them).
pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// A request header's first value, if present. Values are read as bytes and converted lossily:
/// Envoy forwards obs-text bytes that are not UTF-8, and the SDK's string variant would panic.
pub fn request_header(name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .map(lossy)
}

/// All request headers, in order (values converted lossily, as for [`request_header`]).
pub fn request_headers() -> Vec<(String, String)> {
    hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name, lossy(value)))
        .collect()
}

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Overwrites (or adds) a request header.
pub fn set_request_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
}

/// Appends a request header value.
pub fn add_request_header(name: &str, value: &str) {
    let _ = hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value);
}

/// Removes a request header (no-op when absent).
pub fn remove_request_header(name: &str) {
    let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
}

/// Overwrites (or adds) a response header.
pub fn set_response_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
}

/// Appends a response header value.
pub fn add_response_header(name: &str, value: &str) {
    let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value);
}

/// Removes a response header.
pub fn remove_response_header(name: &str) {
    let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
}

/// Raw property bytes (`None` when absent or unreadable).
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
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

/// Current time in nanoseconds since the Unix epoch (0 if the host cannot tell).
pub fn now_nanos() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Current time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    now_nanos() / 1_000_000
}

/// Asks Envoy to recompute the route after a header change. ABI 0.2.1 modules get an implicit
/// clear on request-header mutation, but relying on it breaks on newer ABIs; the foreign
/// function is explicit and cheap. Returns whether the host honoured it.
pub fn clear_route_cache() -> bool {
    hostcalls::call_foreign_function("clear_route_cache", None).is_ok()
}

/// Sets (0 disables) the root context's tick period.
pub fn set_tick_period(period: Duration) {
    let _ = hostcalls::set_tick_period(period);
}

/// Closes the downstream connection of the current stream.
pub fn close_downstream() {
    let _ = hostcalls::close_downstream();
}
