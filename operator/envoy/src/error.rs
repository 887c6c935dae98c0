//! The one error type of rendering.

/// Why a plan cannot be rendered.
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
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::MissingEgressModule { .. } => "missing_egress_module",
            Error::BindPortMismatch { .. } => "bind_port_mismatch",
        }
    }
}

/// Result with the rendering [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
