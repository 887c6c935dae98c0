//! The one error type of running Envoy locally.

use std::path::PathBuf;

/// Errors of installing, running and reconfiguring a local Envoy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan could not be rendered.
    #[error(transparent)]
    Render(#[from] portcullis_envoy::Error),
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Envoy did not start or stopped.
    #[error("envoy process: {0}")]
    Process(String),
    /// Envoy rejected (or did not confirm) a configuration update; the previous one serves.
    #[error("envoy did not accept the new {resource}: {detail}")]
    Rejected {
        /// Which resource (`clusters`, `listeners`, a filter name).
        resource: String,
        /// What Envoy said.
        detail: String,
    },
    /// A demo upstream could not start.
    #[error("demo upstreams: {0}")]
    Demo(String),
    /// An admin request failed.
    #[error("envoy admin: {0}")]
    Admin(String),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Render(e) => e.metric_label(),
            Error::Io { .. } => "io",
            Error::Process(_) => "process",
            Error::Rejected { .. } => "rejected",
            Error::Demo(_) => "demo",
            Error::Admin(_) => "admin",
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with the local [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
