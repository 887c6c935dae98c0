//! Building the filters for wasm32-wasip1.

use anyhow::{Context, Result};

use crate::run;

/// Where the built filters are (relative to the workspace root).
pub const DIR: &str = "target/wasm32-wasip1/release";

/// [`DIR`] as an absolute path, for the environment of the commands xtask runs.
pub fn dir() -> String {
    run::root().join(DIR).to_string_lossy().into_owned()
}

/// The filter crates and their artifact names.
pub const FILTERS: [(&str, &str); 3] = [
    ("portcullis-host-filter", "portcullis_host_filter.wasm"),
    ("portcullis-router", "portcullis_router.wasm"),
    ("portcullis-egress-audit", "portcullis_egress_audit.wasm"),
];

/// Builds every filter in release and prints each artifact's size.
pub fn build_and_report() -> Result<Vec<(String, u64)>> {
    // Idempotent and fast when installed: a fresh machine needs nothing else.
    run::command("rustup", &["target", "add", "wasm32-wasip1"], &[])
        .context("`rustup target add wasm32-wasip1` failed")?;
    let mut args = vec!["build", "--release", "--target", "wasm32-wasip1"];
    for (package, _) in FILTERS {
        args.extend(["-p", package]);
    }
    run::cargo(&args, &[]).context(
        "building the filters failed; is the target installed? run `rustup target add wasm32-wasip1`",
    )?;
    let mut sizes = Vec::new();
    for (_, file) in FILTERS {
        let path = run::root().join(DIR).join(file);
        let size = std::fs::metadata(&path)
            .with_context(|| format!("missing artifact {}", path.display()))?
            .len();
        println!("    {file}: {size} bytes ({:.0} KiB)", size as f64 / 1024.0);
        sizes.push((file.to_string(), size));
    }
    Ok(sizes)
}
