//! The compiled gateway: wire config turned into indexed matchers, and the per-request decision.
//!
//! PLACEHOLDER: signatures only; implementation lands with the route matcher.

use crate::config::WireConfig;
use crate::{ConfigError, Decision, Entropy, HostVerdict, RequestView};

/// A wire config compiled once into indexed matchers. Immutable and shared by all requests.
#[derive(Debug)]
pub struct Gateway {
    config_version: String,
}

impl Gateway {
    /// Validates and compiles a wire config. All regexes are compiled here, never per request.
    pub fn compile(config: &WireConfig) -> Result<Self, ConfigError> {
        Err(ConfigError::Invalid {
            at: String::new(),
            reason: format!("{} not implemented", config.config_version),
        })
    }

    /// The config's identity (`configVersion`).
    pub fn config_version(&self) -> &str {
        &self.config_version
    }

    /// Header names (lowercase) that some route matcher reads, beyond the pseudo-headers.
    pub fn referenced_headers(&self) -> &[String] {
        &[]
    }

    /// Host filtering only (Gateway servers, G-5 … G-10, S-2).
    pub fn admit_host<'g>(&'g self, _request: &RequestView<'_>) -> HostVerdict<'g> {
        HostVerdict::Refused {
            evidence: Default::default(),
            refusal: crate::Refusal::UnknownListener,
        }
    }

    /// Host filtering and routing in one pass (the decision procedure of Istio's gateway).
    pub fn decide<'g>(
        &'g self,
        _request: &RequestView<'_>,
        _entropy: &mut dyn Entropy,
    ) -> Decision<'g> {
        Decision {
            evidence: Default::default(),
            outcome: crate::Outcome::Refused(crate::Refusal::UnknownListener),
        }
    }
}
