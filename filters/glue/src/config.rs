//! Reading the plugin configuration (the wire config JSON).

use portcullis_core::ConfigError;
use portcullis_core::config::WireConfig;
use proxy_wasm::hostcalls;
use proxy_wasm::types::BufferType;

/// Reads and parses the plugin configuration handed to `on_configure`.
pub fn load_wire_config() -> Result<WireConfig, ConfigError> {
    let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
        .ok()
        .flatten()
        .unwrap_or_default();
    if bytes.is_empty() {
        return Err(ConfigError::Json(
            "the plugin configuration is empty".to_string(),
        ));
    }
    WireConfig::from_json(&bytes)
}
