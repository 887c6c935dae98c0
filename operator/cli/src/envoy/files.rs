//! Private files: the state directory and what `up` writes into it (the bootstrap, Envoy's
//! stderr), readable by the owner only.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Error, Result};

/// Creates `dir` (and its parents) private to the owner (0700 from the start), or makes an
/// existing one private. It holds configuration and logs, so it must be the user's own: a
/// symlink is refused (it could point anywhere), and so is a directory the user cannot
/// `chmod` (someone else's, in a shared directory).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create dir", dir, e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io("inspect", dir, e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            "use as the state directory",
            dir,
            std::io::Error::other("not a directory (a symlink is refused)"),
        ));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("make private", dir, e))
}

/// Writes `doc` to `path` atomically and privately (0600).
pub fn write_private(path: &Path, doc: &Value) -> Result<()> {
    let body =
        serde_json::to_vec_pretty(doc).map_err(|e| Error::io("serialise", path, e.into()))?;
    write_private_bytes(path, &body, random_name)
}

/// Opens `path` for writing, private (0600), truncating what was there: for a log in the
/// private state directory.
pub fn create_private_file(path: &Path) -> Result<fs::File> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    // `mode` applies to new files only: an older file keeps its bits unless changed.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("make private", path, e))?;
    Ok(file)
}

/// A temporary name no one can predict: 64 bits from the standard library's per-process
/// random hash keys (seeded by the operating system).
fn random_name(stem: &str) -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!(".{stem}.{:016x}.tmp", hasher.finish())
}

/// How many fresh names are tried when one is taken.
const ATTEMPTS: usize = 8;

/// Writes into a new temporary file in `path`'s directory, named by `name` (created
/// exclusively: `O_CREAT | O_EXCL` refuses anything already there, a symlink included, and
/// never follows it), then renames it over `path`. A taken name is skipped for a fresh one.
fn write_private_bytes(
    path: &Path,
    body: &[u8],
    mut name: impl FnMut(&str) -> String,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("config");
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let tmp: PathBuf = dir.join(name(stem));
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(Error::io("create", &tmp, e));
                continue;
            }
            Err(e) => return Err(Error::io("create", &tmp, e)),
        };
        let written = file
            .write_all(body)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("write", &tmp, e));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
            return written;
        }
        return fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("rename onto", path, e)
        });
    }
    Err(last.unwrap_or_else(|| {
        Error::io(
            "create",
            path,
            std::io::Error::other("no temporary name available"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("portcullis-private-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// The directory is 0700, the file 0600, and no temporary file is left behind.
    #[test]
    fn private_files_are_private() {
        let dir = scratch("modes");
        create_private_dir(&dir).unwrap();
        let file = dir.join("bootstrap.json");
        write_private(&file, &serde_json::json!({"a": 1})).unwrap();
        write_private(&file, &serde_json::json!({"a": 2})).unwrap();
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

    /// A symlink planted at the temporary name is neither followed nor replaced: its target
    /// keeps its content, and the write goes through a fresh name.
    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = scratch("symlink");
        create_private_dir(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(".bootstrap.json.planted.tmp")).unwrap();
        let mut names = [".bootstrap.json.planted.tmp", ".bootstrap.json.fresh.tmp"].into_iter();
        let file = dir.join("bootstrap.json");
        write_private_bytes(&file, b"{}", |_| names.next().unwrap().to_string()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&file).unwrap(), "{}");
        assert_eq!(mode(&file), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Temporary names differ from call to call (and cannot be derived from the pid).
    #[test]
    fn temporary_names_are_random() {
        let a = random_name("bootstrap.json");
        let b = random_name("bootstrap.json");
        assert_ne!(a, b);
        assert!(!a.contains(&std::process::id().to_string()), "{a}");
    }

    /// An existing, too-open state directory is made private; a symlink is refused.
    #[test]
    fn the_state_directory_is_the_users_own() {
        let dir = scratch("existing");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let link = scratch("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(create_private_dir(&link).is_err());
        fs::remove_file(&link).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Logs are created 0600, and an older, readable one is made private.
    #[test]
    fn logs_are_private() {
        let dir = scratch("log");
        create_private_dir(&dir).unwrap();
        let log = dir.join("envoy.stderr");
        fs::write(&log, "old").unwrap();
        fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private_file(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
        assert_eq!(fs::read_to_string(&log).unwrap(), "");
        fs::remove_dir_all(&dir).unwrap();
    }
}
