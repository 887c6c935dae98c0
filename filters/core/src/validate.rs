//! One check for "would the filters accept this config?", for the operator's dry run.

use crate::wire::WireConfig;
use crate::{ConfigError, EgressPolicy, Gateway};

/// Runs what each filter runs on `config` in `on_configure`, in the order a deployment meets
/// them, and returns the first rejection. `Ok` means every filter deployed with this config
/// accepts it; an error means some filter would refuse it and keep its previous config.
///
/// - the wire-format version check of [`WireConfig::from_json`] (every filter);
/// - [`Gateway::compile`]: the router and the host filter;
/// - [`EgressPolicy::from_wire`] (allow-list, audit redaction and sink settings): the egress
///   filter, both root ids. It runs only on egress gateways, whose configs carry an `egress`
///   section, so a config without one is not checked for it (the router does not need it).
///
/// The filters' per-configuration state beyond these (metrics, the audit pipeline) cannot
/// refuse a config, so passing here is exactly passing `on_configure`.
pub fn validate(config: &WireConfig) -> Result<(), ConfigError> {
    config.check_version()?;
    Gateway::compile(config)?;
    if config.egress.is_some() {
        EgressPolicy::from_wire(config)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WIRE_VERSION;
    use serde_json::json;

    fn wire(value: serde_json::Value) -> WireConfig {
        serde_json::from_value(value).unwrap()
    }

    /// A config the router and host filter accept (no listener is fine for them) but the
    /// egress filter refuses: `validate` reports the egress filter's error.
    #[test]
    fn egress_rejection_is_reported() {
        let config = wire(json!({
            "version": WIRE_VERSION,
            "configVersion": "sha256:t",
            "listeners": [{"port": 443, "servers": [{"name": "ns/egress/tls", "hosts": ["*"]}]}],
            "egress": {"allowedHosts": [{"host": "api.*", "rule": "ServiceEntry ns/se"}]}
        }));
        assert!(Gateway::compile(&config).is_ok());
        let error = validate(&config).unwrap_err();
        assert_eq!(error, EgressPolicy::from_wire(&config).unwrap_err());
        assert!(
            error.to_string().starts_with("egress.allowedHosts[0].host"),
            "{error}"
        );
    }

    /// An ingress config has no `egress` section; the egress filter is not deployed with it.
    #[test]
    fn ingress_config_needs_no_egress_section() {
        let config = wire(json!({"version": WIRE_VERSION, "configVersion": "sha256:t"}));
        assert_eq!(validate(&config), Ok(()));
        assert!(EgressPolicy::from_wire(&config).is_err());
    }

    /// The router's and host filter's compile runs too, and so does the version check.
    #[test]
    fn gateway_and_version_rejections_are_reported() {
        let bad_host = wire(json!({
            "version": WIRE_VERSION,
            "configVersion": "sha256:t",
            "listeners": [{"port": 80, "servers": [{"name": "s", "hosts": ["a*b"]}]}]
        }));
        assert_eq!(
            validate(&bad_host).unwrap_err(),
            Gateway::compile(&bad_host).unwrap_err()
        );
        let future = wire(json!({"version": WIRE_VERSION + 1, "configVersion": "sha256:t"}));
        assert!(matches!(
            validate(&future),
            Err(ConfigError::UnsupportedVersion { .. })
        ));
    }
}
