//! The black-box controller test: the release `portcullis` binary against kmock, a mock
//! Kubernetes API server from PyPI (`operator/cli/tests/kmock/`), in its own virtual
//! environment under `target/`.

use anyhow::{Context, Result};

use crate::run;

/// Runs the harness; `bin` is the binary under test.
pub fn run(bin: &str, envoy: &str, wasm_dir: &str) -> Result<()> {
    let root = run::root();
    let venv = root.join("target/kmock-venv");
    let python = venv.join("bin/python");
    let requirements = root.join("operator/cli/tests/kmock/requirements.txt");
    if !python.exists() {
        run::command("python3", &["-m", "venv", &venv.to_string_lossy()], &[])
            .context("python3 -m venv failed (Debian: apt-get install python3-venv)")?;
    }
    let python = python.to_string_lossy().to_string();
    if run::output(&python, &["-c", "import kmock"]).is_err() {
        let pip = venv.join("bin/pip").to_string_lossy().to_string();
        run::command(
            &pip,
            &["install", "--quiet", "-r", &requirements.to_string_lossy()],
            &[],
        )
        .context("pip install kmock failed")?;
    }
    let harness = root.join("operator/cli/tests/kmock/harness.py");
    run::command(
        &python,
        &[&harness.to_string_lossy()],
        &[
            ("PORTCULLIS_BIN", bin),
            ("PORTCULLIS_ENVOY", envoy),
            ("PORTCULLIS_WASM_DIR", wasm_dir),
        ],
    )
}
