//! Reading the plugin configuration (the wire config JSON).

use portcullis_core::ConfigError;
use portcullis_core::wire::WireConfig;
use proxy_wasm::types::{BufferType, LogLevel};

use crate::metrics::{Counter, Gauge, version_fingerprint};
use crate::{abi, host};

/// Reads and parses the plugin configuration handed to `on_configure`.
pub fn load_wire_config() -> Result<WireConfig, ConfigError> {
    let bytes = abi::buffer(BufferType::PluginConfiguration, 0, usize::MAX)
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

/// What every filter records about its configuration: accepted and rejected counts and a
/// fingerprint of the serving version (`<prefix>config_*`, the prefix being the filter's in
/// [`portcullis_core::contract`], e.g. `portcullis.router.config_accepted`).
#[derive(Clone, Copy, Debug)]
pub struct ConfigMetrics {
    accepted: Counter,
    rejected: Counter,
    version: Gauge,
}

impl ConfigMetrics {
    /// Defines the metrics under `prefix` (one of the `*_METRICS` prefixes of
    /// [`portcullis_core::contract`], which end with a dot).
    pub fn define(prefix: &str) -> Self {
        ConfigMetrics {
            accepted: Counter::define(&format!("{prefix}config_accepted")),
            rejected: Counter::define(&format!("{prefix}config_rejected")),
            version: Gauge::define(&format!("{prefix}config_version")),
        }
    }

    /// Reports the outcome of `on_configure` in one log line and the metrics, and hands back
    /// the accepted configuration. On a rejection the caller keeps serving its previous one
    /// (`kept`, named in the log line) and returns `false` to the host.
    pub fn report<T>(
        self,
        who: &str,
        outcome: Result<T, ConfigError>,
        version_of: impl Fn(&T) -> &str,
        kept: Option<&str>,
    ) -> Option<T> {
        match outcome {
            Ok(config) => {
                let version = version_of(&config);
                host::log(
                    LogLevel::Info,
                    &format!("portcullis {who}: serving config {version}"),
                );
                self.accepted.inc();
                self.version.set(version_fingerprint(version));
                Some(config)
            }
            Err(error) => {
                host::log(
                    LogLevel::Error,
                    &format!(
                        "portcullis {who}: rejected config ({}): {error}; still serving config {}",
                        error.metric_label(),
                        kept.unwrap_or("none")
                    ),
                );
                self.rejected.inc();
                None
            }
        }
    }
}
