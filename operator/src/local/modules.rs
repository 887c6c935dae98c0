//! Locating the filter modules, building them when needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::envoy::{Error, Result, WasmModules, workspace_target_dir};

/// Finds `portcullis_router.wasm` and `portcullis_egress_audit.wasm`: in `$PORTCULLIS_WASM_DIR`
/// when set (used as is, never built), else builds them with cargo into
/// `<target>/wasm-artifacts` (a separate target dir, so the wasm build never invalidates the
/// native one). Cargo's own up-to-date check makes the repeat build cheap.
pub fn find_or_build_modules(log: &dyn Fn(&str)) -> Result<WasmModules> {
    if let Some(dir) = std::env::var_os("PORTCULLIS_WASM_DIR") {
        return modules_in(Path::new(&dir));
    }
    let target = workspace_target_dir().join("wasm-artifacts");
    let workspace = workspace_target_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    log("building the filters (cargo build --release --target wasm32-wasip1)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .args(["-p", "portcullis-router", "-p", "portcullis-egress-audit"])
        .status()
        .map_err(|e| Error::Install(format!("running cargo: {e}")))?;
    if !status.success() {
        return Err(Error::Install(format!(
            "building the filters failed ({status}). Install the target with \
             `rustup target add wasm32-wasip1`, or point PORTCULLIS_WASM_DIR at a directory \
             holding portcullis_router.wasm and portcullis_egress_audit.wasm"
        )));
    }
    modules_in(&target.join("wasm32-wasip1").join("release"))
}

fn modules_in(dir: &Path) -> Result<WasmModules> {
    // xtask passes a path relative to the workspace root; tests run in the package dir.
    let root = workspace_target_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dir = &root.join(dir);
    let router = dir.join("portcullis_router.wasm");
    if !router.is_file() {
        return Err(Error::Install(format!(
            "{} is missing; build it with `cargo build --release --target wasm32-wasip1 -p portcullis-router`",
            router.display()
        )));
    }
    let audit: PathBuf = dir.join("portcullis_egress_audit.wasm");
    Ok(WasmModules {
        router,
        egress_audit: audit.is_file().then_some(audit),
    })
}
