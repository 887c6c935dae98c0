//! Validation of the compiled wire config by the filters' own core.

use portcullis_core::ConfigError;
use portcullis_core::wire::WireConfig;

/// Compiles `wire` with `portcullis_core::Gateway::compile`, exactly as the filters will in
/// `on_configure`: anything it rejects would make the gateway refuse the config. `compile`
/// turns a rejection into an error diagnostic.
pub(super) fn validate_with_core(wire: &WireConfig) -> Result<(), ConfigError> {
    portcullis_core::Gateway::compile(wire).map(|_| ())
}
