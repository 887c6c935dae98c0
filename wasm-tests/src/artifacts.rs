//! Finds or builds the guest `.wasm` files a test binary needs, once per process.
//!
//! `cargo xtask test` builds the three filters (release, `wasm32-wasip1`) into the directory it
//! passes as `PORTCULLIS_WASM_DIR` before it runs the tests, for the end-to-end tests against
//! Envoy. Building them a second time here would double the suite's longest step in CI, so a
//! module found there is used as is; anything else (the probe, which that directory never
//! holds, or every module when the variable is unset, as under a plain `cargo test`) is built
//! here into its own target dir.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context as _, Result, bail};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where [`build_wasm`] puts its artifacts; a separate target dir avoids the lock of the
/// outer `cargo test`.
pub fn artifact_target_dir() -> PathBuf {
    workspace_root().join("target").join("wasm-artifacts")
}

/// The environment variable naming a directory of prebuilt modules (absolute, or relative to
/// the workspace root).
pub const WASM_DIR_ENV: &str = "PORTCULLIS_WASM_DIR";

/// The file name cargo gives the `cdylib` of `package` (`portcullis-router` →
/// `portcullis_router.wasm`).
pub fn module_file(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

/// The `.wasm` of `package` in `$PORTCULLIS_WASM_DIR`, if that directory is set and holds it.
pub fn prebuilt(package: &str) -> Option<PathBuf> {
    prebuilt_in(std::env::var_os(WASM_DIR_ENV).as_deref(), package)
}

fn prebuilt_in(dir: Option<&OsStr>, package: &str) -> Option<PathBuf> {
    let path = workspace_root().join(dir?).join(module_file(package));
    path.is_file().then_some(path)
}

/// The `.wasm` of `package` for `wasm32-wasip1` in release mode: the [`prebuilt`] one when
/// there is one, else built here (see the module documentation).
///
/// Looks and runs cargo at most once per package per process; later calls return the cached
/// result.
pub fn build_wasm(package: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let cache = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let entry = cache
        .entry(package.to_string())
        .or_insert_with(|| match prebuilt(package) {
            Some(path) => Ok(path),
            None => run_cargo(package).map_err(|e| format!("{e:#}")),
        });
    match entry {
        Ok(path) => Ok(path.clone()),
        Err(msg) => bail!("{msg}"),
    }
}

fn run_cargo(package: &str) -> Result<PathBuf> {
    let target_dir = artifact_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer `cargo test` sets these for the test binary; they must not leak into
        // the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            package,
        ])
        .output()
        .with_context(|| format!("could not run `{cargo}` to build {package}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip1") && stderr.contains("target") {
            "\nhint: run `rustup target add wasm32-wasip1`"
        } else {
            ""
        };
        bail!(
            "`cargo build --release --target wasm32-wasip1 -p {package}` failed \
             (CARGO_TARGET_DIR={}):\n{stderr}{hint}",
            target_dir.display()
        );
    }
    let path = target_dir
        .join("wasm32-wasip1")
        .join("release")
        .join(module_file(package));
    if !path.exists() {
        bail!(
            "cargo built {package} but {} is missing; is it a `cdylib`?",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module file in the directory is used; a package it does not hold, or no directory,
    /// is not found (and so gets built).
    #[test]
    fn prebuilt_only_when_the_directory_holds_the_module() {
        let dir = std::env::temp_dir().join(format!("portcullis-prebuilt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let router = dir.join("portcullis_router.wasm");
        std::fs::write(&router, b"\0asm").unwrap();
        let found = prebuilt_in(Some(dir.as_os_str()), "portcullis-router");
        assert_eq!(found, Some(router));
        assert_eq!(
            prebuilt_in(Some(dir.as_os_str()), "portcullis-wasm-probe"),
            None
        );
        assert_eq!(prebuilt_in(None, "portcullis-router"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
