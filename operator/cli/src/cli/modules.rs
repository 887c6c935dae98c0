//! `portcullis modules --copy-to DIR`: puts the filter modules this binary finds into `DIR`,
//! for gateways that load them from their own disk (the `ConfigMap` distribution). In a
//! cluster it runs as an init container from the controller's image (which has no shell to
//! copy files with) into a volume the Envoy container mounts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use portcullis_envoy::WasmCode;

use crate::locate::locate_modules;

/// `portcullis modules --copy-to DIR [--wasm-dir DIR]`.
#[derive(Args, Clone, Debug)]
pub struct ModulesArgs {
    /// Where to put `portcullis_router.wasm` and `portcullis_egress_audit.wasm`.
    #[arg(long, value_name = "DIR")]
    pub copy_to: PathBuf,
    /// Where the modules are (default: `$PORTCULLIS_WASM_DIR`, else beside the binary).
    #[arg(long, value_name = "DIR")]
    pub wasm_dir: Option<PathBuf>,
}

/// Copies each module (written beside, then renamed, so Envoy never reads half a file) and
/// prints its name and SHA-256.
pub fn modules_command(args: &ModulesArgs) -> anyhow::Result<ExitCode> {
    let modules = locate_modules(args.wasm_dir.as_deref())?;
    std::fs::create_dir_all(&args.copy_to)
        .with_context(|| format!("creating {}", args.copy_to.display()))?;
    for code in std::iter::once(&modules.router).chain(&modules.egress_audit) {
        let WasmCode::Local(source) = code else {
            continue;
        };
        let sha256 = copy(source, &args.copy_to)?;
        let name = source.file_name().unwrap_or_default().to_string_lossy();
        let _ = writeln!(std::io::stdout(), "{name} sha256:{sha256}");
    }
    Ok(ExitCode::SUCCESS)
}

fn copy(source: &Path, dir: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    let name = source
        .file_name()
        .context("a module path without a file name")?;
    let target = dir.join(name);
    let partial = dir.join(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &target)
        .with_context(|| format!("renaming {} to {}", partial.display(), target.display()))?;
    Ok(portcullis_xds::Module::new(name.to_string_lossy(), bytes).sha256)
}
