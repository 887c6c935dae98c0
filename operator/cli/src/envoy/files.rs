//! Creating the configuration directory and replacing its files atomically.

use std::fs;
use std::io::Write;
use std::path::Path;

use portcullis_envoy::ConfigDir;
use serde_json::Value;

use super::{Error, Result};

/// Creates the root and the per-resource subdirectories of `dir`.
pub fn create_config_dir(dir: &ConfigDir) -> Result<()> {
    for sub in dir.xds_dirs() {
        fs::create_dir_all(&sub).map_err(|e| Error::io("create dir", &sub, e))?;
    }
    Ok(())
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
