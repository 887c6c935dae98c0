//! Envoy as a local process: running it, its admin endpoint, and the files of file-based xDS.

mod error;
mod files;
mod process;

pub use error::{Error, Result};
pub use files::{create_config_dir, write_atomically};
pub use process::{Admin, EnvoyProcess, EnvoyProcessOptions};
