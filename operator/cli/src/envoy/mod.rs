//! Envoy as a local process: running it, its admin endpoint, and the private files it reads.

mod error;
mod files;
mod leftover;
mod process;

pub use error::{Error, Result};
pub use files::{create_private_dir, write_private};
pub use leftover::stop as stop_leftover_envoy;
pub(crate) use process::dechunk;
pub use process::{Admin, EnvoyProcess, EnvoyProcessOptions};
