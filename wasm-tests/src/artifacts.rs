//! Builds the guest `.wasm` files a test binary needs, once per process.

use std::collections::HashMap;
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

/// Builds `package` for `wasm32-wasip1` in release mode and returns the `.wasm` path.
///
/// Runs cargo at most once per package per process; later calls return the cached result.
pub fn build_wasm(package: &str) -> Result<PathBuf> {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let cache = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let entry = cache
        .entry(package.to_string())
        .or_insert_with(|| run_cargo(package).map_err(|e| format!("{e:#}")));
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
    let file = format!("{}.wasm", package.replace('-', "_"));
    let path = target_dir.join("wasm32-wasip1").join("release").join(file);
    if !path.exists() {
        bail!(
            "cargo built {package} but {} is missing; is it a `cdylib`?",
            path.display()
        );
    }
    Ok(path)
}
