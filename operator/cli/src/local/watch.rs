//! Change detection: the kernel's notifications (inotify) wake the loop at once, and a
//! fingerprint of every file's path, size and mtime decides whether anything changed, so
//! editors' swap files and a burst of events from one save count once. Where notifications
//! are unavailable (network mounts, exhausted watches) the loop's periodic scan still sees
//! every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Path → (size, mtime) of every file the loader reads in a directory: the `*.yaml` and
/// `*.yml` files directly in it (hidden ones excluded: editors' swap files, our own state).
/// Anything else there, a log file say, is not configuration and changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint(BTreeMap<PathBuf, (u64, Option<SystemTime>)>);

impl Fingerprint {
    /// Scans `dir`, one level deep like the loader. Unreadable entries are skipped (they
    /// reappear once readable).
    pub fn scan(dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Fingerprint(files);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            // `metadata` follows a symlink, as the loader's read does.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_file() {
                files.insert(path, (meta.len(), meta.modified().ok()));
            }
        }
        Fingerprint(files)
    }
}

/// How long the directory must stay unchanged before a change is read: an editor or script
/// that truncates a file and then writes it is otherwise read in between, and a half-written
/// file (a Gateway missing, say) would be compiled and served as if it were the user's intent.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// At most this many settle periods are waited for; a directory written to without pause
/// is then read as it is, and the next change is picked up by the next scan.
const MAX_SETTLES: u32 = 20;

/// Waits until `dir` has not changed for [`SETTLE`], starting from `seen` (a scan that
/// differs from the last one compiled); returns the settled fingerprint.
pub async fn settle(dir: &Path, mut seen: Fingerprint) -> Fingerprint {
    for _ in 0..MAX_SETTLES {
        tokio::time::sleep(SETTLE).await;
        let now = Fingerprint::scan(dir);
        if now == seen {
            break;
        }
        seen = now;
    }
    seen
}

/// Change notifications for a directory tree, debounced.
#[derive(Debug)]
pub struct Notifications {
    events: Option<tokio::sync::mpsc::Receiver<()>>,
    // Kept alive: dropping it stops the notifications.
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Events of one save arrive within a few milliseconds of each other.
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(5);

impl Notifications {
    /// Watches `dir` (one level, as the loader reads it); without a watcher (none available, or the directory cannot
    /// be watched) [`Notifications::next`] never fires and the periodic scan takes over.
    pub fn watch(dir: &Path) -> Self {
        use notify::Watcher as _;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                // A full channel already holds a wake-up: nothing is lost.
                let _ = tx.try_send(());
            }
        });
        match watcher.and_then(|mut w| {
            w.watch(dir, notify::RecursiveMode::NonRecursive)
                .map(|()| w)
        }) {
            Ok(watcher) => Notifications {
                events: Some(rx),
                _watcher: Some(watcher),
            },
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(),
                    "no change notifications; scanning the directory periodically");
                Notifications {
                    events: None,
                    _watcher: None,
                }
            }
        }
    }

    /// Waits for the next change (and the events that follow it within [`DEBOUNCE`]).
    pub async fn next(&mut self) {
        let Some(events) = &mut self.events else {
            return std::future::pending().await;
        };
        if events.recv().await.is_none() {
            self.events = None;
            return std::future::pending().await;
        }
        tokio::time::sleep(DEBOUNCE).await;
        while events.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new, changed or removed YAML file changes the fingerprint; hidden files, other files
    /// and subdirectories do not.
    #[test]
    fn fingerprint_tracks_the_files_the_loader_reads() {
        let dir = std::env::temp_dir().join(format!("portcullis-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = Fingerprint::scan(&dir);
        std::fs::write(dir.join(".swp"), "x").unwrap();
        std::fs::write(dir.join("up.log"), "x").unwrap();
        std::fs::create_dir_all(dir.join("expected")).unwrap();
        std::fs::write(dir.join("expected").join("x.yaml"), "x").unwrap();
        assert_eq!(Fingerprint::scan(&dir), empty);
        std::fs::write(dir.join("vs.yaml"), "a").unwrap();
        let one = Fingerprint::scan(&dir);
        assert_ne!(one, empty);
        std::fs::write(dir.join("vs.yaml"), "ab").unwrap();
        assert_ne!(Fingerprint::scan(&dir), one);
        std::fs::remove_file(dir.join("vs.yaml")).unwrap();
        assert_eq!(Fingerprint::scan(&dir), empty);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file written in steps (truncated, then written a piece at a time) is read only once
    /// the writes stop: the settled fingerprint is the final file's.
    #[tokio::test]
    async fn settle_waits_for_a_file_written_in_steps() {
        let dir = std::env::temp_dir().join(format!("portcullis-settle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.yaml");
        std::fs::write(&file, "").unwrap();
        let first = Fingerprint::scan(&dir);
        let writer = {
            let file = file.clone();
            tokio::spawn(async move {
                for piece in 1..=4 {
                    tokio::time::sleep(SETTLE / 2).await;
                    std::fs::write(&file, "x".repeat(piece * 10)).unwrap();
                }
            })
        };
        let settled = settle(&dir, first).await;
        writer.await.unwrap();
        assert_eq!(
            settled,
            Fingerprint::scan(&dir),
            "read before the writes ended"
        );
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 40);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
