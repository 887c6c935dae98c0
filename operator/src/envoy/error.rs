//! The one error type of the Envoy side.

use std::path::PathBuf;

/// Errors of rendering, installing and running Envoy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan has an egress listener but no egress-audit module was given.
    #[error("listener {listener} is an egress listener but no egress-audit wasm module was given")]
    MissingEgressModule {
        /// Listener name.
        listener: String,
    },
    /// The plan binds a port the wire config does not know: the router would answer 404 there.
    #[error(
        "listener {listener} binds port {port} but the wire config has no listener with that bind port"
    )]
    BindPortMismatch {
        /// Listener name.
        listener: String,
        /// Bind port.
        port: u16,
    },
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
    /// Envoy could not be found or installed.
    #[error("envoy install: {0}")]
    Install(String),
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
            Error::MissingEgressModule { .. } => "missing_egress_module",
            Error::BindPortMismatch { .. } => "bind_port_mismatch",
            Error::Io { .. } => "io",
            Error::Install(_) => "install",
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

/// Result with the Envoy [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
