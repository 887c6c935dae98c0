//! Private files: the state directory and what `up` writes into it (the bootstrap), readable
//! by the owner only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::{Error, Result};

/// Creates `dir` (and its parents) and makes it private to the owner (0700): it holds
/// configuration and logs.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("make private", dir, e))
}

/// Writes `doc` to `path` atomically and privately (0600): into a new temporary file with an
/// unpredictable name in the same directory (created exclusively, so a planted file or
/// symlink is refused, never followed), then renamed over `path`.
pub fn write_private(path: &Path, doc: &Value) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("config");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.{nanos:x}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let body =
        serde_json::to_vec_pretty(doc).map_err(|e| Error::io("serialise", path, e.into()))?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    let written = file
        .write_all(&body)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", &tmp, e));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("rename onto", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directory is 0700, the file 0600, and no temporary file is left behind.
    #[test]
    fn private_files_are_private() {
        let dir = std::env::temp_dir().join(format!("portcullis-private-{}", std::process::id()));
        create_private_dir(&dir).unwrap();
        let file = dir.join("bootstrap.json");
        write_private(&file, &serde_json::json!({"a": 1})).unwrap();
        write_private(&file, &serde_json::json!({"a": 2})).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "temporary files left"
        );
        assert!(fs::read_to_string(&file).unwrap().contains('2'));
        fs::remove_dir_all(&dir).unwrap();
    }
}
