//! The configuration directory and atomic file replacement.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Error, Result};

/// The directory Envoy reads its bootstrap and xDS files from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
}

impl ConfigDir {
    /// A configuration directory rooted at `root` (created by [`ConfigDir::create`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ConfigDir { root: root.into() }
    }

    /// Creates the root and the per-resource subdirectories.
    pub fn create(&self) -> Result<()> {
        for file in [
            self.listeners_file(),
            self.clusters_file(),
            self.router_file(),
            self.egress_audit_file(),
        ] {
            if let Some(dir) = file.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
            }
        }
        Ok(())
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `bootstrap.json`.
    pub fn bootstrap_file(&self) -> PathBuf {
        self.root.join("bootstrap.json")
    }
    /// The LDS file.
    pub fn listeners_file(&self) -> PathBuf {
        self.root.join("lds").join("lds.json")
    }
    /// The CDS file.
    pub fn clusters_file(&self) -> PathBuf {
        self.root.join("cds").join("cds.json")
    }
    /// The router's ECDS file.
    pub fn router_file(&self) -> PathBuf {
        self.root.join("ecds-router").join("router.json")
    }
    /// The egress-audit filter's ECDS file.
    pub fn egress_audit_file(&self) -> PathBuf {
        self.root.join("ecds-egress-audit").join("audit.json")
    }
}

/// Writes `doc` to `path` by writing a temporary file in the same directory and renaming it:
/// Envoy's directory watch fires on the rename, and it never reads a half-written file.
pub fn write_atomically(path: &Path, doc: &Value) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("config");
    let tmp = dir.join(format!(".{name}.tmp"));
    let body =
        serde_json::to_vec_pretty(doc).map_err(|e| Error::io("serialise", path, e.into()))?;
    let mut file = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(&body)
        .map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename onto", path, e))
}
