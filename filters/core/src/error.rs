//! The one error type of the core: why a wire config was refused.

use thiserror::Error;

/// Why a wire config could not be accepted. Every variant names where the problem is, so the
/// filter's single log line and the operator's diagnostic point at the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Not valid JSON or not the wire format (unknown field, wrong type, …).
    #[error("invalid wire config: {0}")]
    Json(String),
    /// The wire-format version is not the one this filter understands.
    #[error("unsupported wire config version {found} (this filter reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the document.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A host pattern is malformed.
    #[error("{at}: invalid host pattern {pattern:?}: {reason}")]
    InvalidHost {
        /// Field path, e.g. `listeners[0].servers[1].hosts[2]`.
        at: String,
        /// The offending pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A regex does not compile or is too large.
    #[error("{at}: invalid regex {pattern:?}: {reason}")]
    InvalidRegex {
        /// Field path.
        at: String,
        /// The offending pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other semantic error (duplicate bind port, weights summing to zero, bad status …).
    #[error("{at}: {reason}")]
    Invalid {
        /// Field path.
        at: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// A bounded label for metrics (`json`, `version`, `host`, `regex`, `invalid`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            ConfigError::Json(_) => "json",
            ConfigError::UnsupportedVersion { .. } => "version",
            ConfigError::InvalidHost { .. } => "host",
            ConfigError::InvalidRegex { .. } => "regex",
            ConfigError::Invalid { .. } => "invalid",
        }
    }
}
