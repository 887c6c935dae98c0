//! Building the filters for wasm32-wasip1.

use anyhow::{Context, Result};

use crate::run;

/// Where the built filters are (relative to the workspace root).
pub const DIR: &str = "target/wasm32-wasip1/release";

/// [`DIR`] as an absolute path, for the environment of the commands xtask runs.
pub fn dir() -> String {
    run::root().join(DIR).to_string_lossy().into_owned()
}

/// The filter crates, their artifact names and their source directories.
pub const FILTERS: [(&str, &str, &str); 3] = [
    (
        "portcullis-host-filter",
        "portcullis_host_filter.wasm",
        "filters/host-filter",
    ),
    (
        "portcullis-router",
        "portcullis_router.wasm",
        "filters/router",
    ),
    (
        "portcullis-egress-audit",
        "portcullis_egress_audit.wasm",
        "filters/egress-audit",
    ),
];

/// The crate every filter's callbacks may also come from (its shared stream types).
const GLUE: &str = "filters/glue";

/// Builds every filter in release, removes the per-stream callback exports each does not
/// implement ([`crate::exports`]), and prints each artifact's size.
pub fn build_and_report() -> Result<Vec<(String, u64)>> {
    // Idempotent and fast when installed: a fresh machine needs nothing else.
    run::command("rustup", &["target", "add", "wasm32-wasip1"], &[])
        .context("`rustup target add wasm32-wasip1` failed")?;
    let mut args = vec!["build", "--release", "--target", "wasm32-wasip1"];
    for (package, _, _) in FILTERS {
        args.extend(["-p", package]);
    }
    run::cargo(&args, &[]).context(
        "building the filters failed; is the target installed? run `rustup target add wasm32-wasip1`",
    )?;
    let mut sizes = Vec::new();
    for (_, file, source) in FILTERS {
        let path = run::root().join(DIR).join(file);
        let callbacks = prune_callbacks(&path, source)?;
        let size = std::fs::metadata(&path)
            .with_context(|| format!("missing artifact {}", path.display()))?
            .len();
        println!(
            "    {file}: {size} bytes ({:.0} KiB), {callbacks} callbacks exported",
            size as f64 / 1024.0
        );
        sizes.push((file.to_string(), size));
    }
    Ok(sizes)
}

/// Rewrites the module at `path` without the callbacks its crate (at `source`) and the glue
/// crate do not implement; returns how many `proxy_on_*` callbacks it still exports. Written
/// to a new file then renamed, because cargo hard-links the artifact to its copy under
/// `deps/`, which stays as built.
fn prune_callbacks(path: &std::path::Path, source: &str) -> Result<usize> {
    let root = run::root();
    let implemented = crate::exports::implemented(&[
        &root.join(source).join("src"),
        &root.join(GLUE).join("src"),
    ])?;
    let wasm =
        std::fs::read(path).with_context(|| format!("missing artifact {}", path.display()))?;
    let (pruned, _) = crate::exports::prune(&wasm, &implemented)
        .with_context(|| format!("rewriting the exports of {}", path.display()))?;
    if pruned != wasm {
        let partial = path.with_extension("wasm.partial");
        std::fs::write(&partial, &pruned)?;
        std::fs::rename(&partial, path)?;
    }
    crate::exports::callbacks(&pruned)
}
