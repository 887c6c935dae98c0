//! Validation of the compiled wire config by the filters' own core.

use portcullis_core::ConfigError;
use portcullis_core::wire::WireConfig;

/// Runs [`portcullis_core::validate`]: what every filter compiles in `on_configure` (the
/// router's and host filter's `Gateway::compile`, the egress filter's allow-list and audit
/// settings). Anything it rejects would make a gateway refuse the config. `compile` turns a
/// rejection into an error diagnostic.
pub(super) fn validate_with_core(wire: &WireConfig) -> Result<(), ConfigError> {
    portcullis_core::validate(wire)
}
