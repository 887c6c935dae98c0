//! PLACEHOLDER: egress policy (allow-list) signatures.
use crate::ConfigError;
use crate::config::Egress;

/// Compiled egress allow-list.
#[derive(Debug)]
pub struct EgressPolicy;

/// Outcome of an egress check.
#[derive(Debug)]
pub enum EgressDecision<'p> {
    /// Allowed by a rule.
    Allowed {
        /// The rule.
        rule: &'p str,
    },
    /// Denied.
    Denied,
}

impl EgressPolicy {
    /// Compiles the egress section.
    pub fn compile(_egress: &Egress) -> Result<Self, ConfigError> {
        Ok(EgressPolicy)
    }
}
