//! The wire format: the versioned JSON document the operator sends to the filters.
//!
//! This is the contract between `operator/` (which writes it) and `filters/` (which read it).
//! Every struct rejects unknown fields, so a typo or a newer operator talking to an older filter
//! fails loudly in `on_configure` instead of being silently ignored. Istio-level concepts that
//! are resolved at compile time (Gateway selectors, `match.port`, `match.gateways`,
//! `sourceLabels`, `exportTo`, delegation) never appear here: the wire format carries only what
//! the data plane evaluates per request.

mod egress;
mod route;

pub use egress::*;
pub use route::*;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The wire-format version this build of the core reads and writes.
pub const WIRE_VERSION: u32 = 1;

/// The root of the wire config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WireConfig {
    /// Wire-format version; must equal [`WIRE_VERSION`].
    pub version: u32,
    /// Identity of this configuration (the compiler's content hash, e.g. `sha256:ab12…`).
    /// Reported in logs, metrics and audit records so a decision can be traced to its config.
    pub config_version: String,
    /// One entry per Gateway server port exposed by this gateway workload.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Egress policy and audit settings; absent on ingress gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
}

/// All Gateway servers merged on one port (Istio G-2) and the virtual hosts built for them (G-8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Listener {
    /// The Gateway server port as written; `match.port`, redirects with `FROM_REQUEST_PORT` and
    /// default destination ports use it (G-13).
    pub port: u16,
    /// The port Envoy actually listens on, when it differs from `port` (Istio's Service
    /// targetPort translation, or a local port offset). The filter selects the listener by the
    /// connection's destination port, so this must be unique across listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    /// Servers on this port, in merge order.
    #[serde(default)]
    pub servers: Vec<Server>,
    /// Virtual hosts of the route table shared by this port's plain-text servers (G-8), in
    /// Istio's order. Empty means every plain-text request on this port gets 404 (Istio's
    /// `blackhole` vhost, G-10). Terminated HTTPS servers carry their own table instead
    /// (`servers[].virtualHosts`, G-11).
    #[serde(default)]
    pub virtual_hosts: Vec<VirtualHost>,
}

impl Listener {
    /// The port Envoy listens on for this Gateway port.
    pub fn effective_bind_port(&self) -> u16 {
        self.bind_port.unwrap_or(self.port)
    }
}

/// One `Gateway.spec.servers[]` entry, reduced to what the data plane checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Server {
    /// `<namespace>/<gateway>/<port name>`, used as evidence in decisions.
    pub name: String,
    /// Host patterns (`dnsName` part only, lowercased): exact, `*.suffix` or `*` (G-5).
    pub hosts: Vec<String>,
    /// `tls.httpsRedirect`: plain-text requests for these hosts get a 301 to https (G-7).
    #[serde(default, skip_serializing_if = "is_false")]
    pub https_redirect: bool,
    /// The server terminates TLS (HTTPS with SIMPLE, MUTUAL, …). The connection's SNI selects
    /// the server among the TLS servers of the port (G-11).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls: bool,
    /// With `tls`: this server's own route table (Istio's `https.<port>.<portName>.<gw>.<ns>`),
    /// the only one a request whose SNI selected this server is routed in, by Host (G-9, G-11).
    /// Empty means every such request gets 404 (G-10). Must be empty on plain-text servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_hosts: Vec<VirtualHost>,
    /// With `tls`: the name of the Envoy filter chain that terminates this server's TLS. The
    /// filter then selects the server by the chain Envoy chose for the connection
    /// (`xds.filter_chain_name`), not by repeating the SNI match, so the two cannot disagree
    /// (G-11). Either every TLS server of a listener names its chain, or none does; names are
    /// unique within the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_chain: Option<String>,
}

/// An Envoy-style virtual host: one or more domains and an ordered route list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VirtualHost {
    /// Name used as evidence, e.g. `dev.example.com:80`.
    pub name: String,
    /// Host patterns this vhost answers (exact, `*.suffix`, `prefix.*` or `*`), lowercased.
    pub domains: Vec<String>,
    /// Every plain-text request is redirected to https with a 301 (G-7).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_tls: bool,
    /// Routes in priority order; the first match wins (V-5, V-8).
    #[serde(default)]
    pub routes: Vec<Route>,
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

impl WireConfig {
    /// The bind port of the only listener, when there is exactly one: every request a filter
    /// sees then came to that port, so the `destination.port` read can be skipped.
    pub fn sole_bind_port(&self) -> Option<u16> {
        match self.listeners.as_slice() {
            [only] => Some(only.effective_bind_port()),
            _ => None,
        }
    }

    /// Parses and validates a wire config. Errors name the offending field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let config: WireConfig =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        config.check_version()?;
        Ok(config)
    }

    /// Refuses a config of another wire-format version than [`WIRE_VERSION`].
    pub fn check_version(&self) -> Result<(), ConfigError> {
        if self.version == WIRE_VERSION {
            Ok(())
        } else {
            Err(ConfigError::UnsupportedVersion {
                found: self.version,
                supported: WIRE_VERSION,
            })
        }
    }

    /// Serialises the config as compact JSON (what the filters receive).
    pub fn to_json(&self) -> String {
        // Serialising plain data structs with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
