//! A ConfigMap volume as the kubelet writes it (its `AtomicWriter`), so a test can hand Envoy
//! what a pod would see:
//!
//! ```text
//! <root>/..2/lds.json ...        the current version's files
//! <root>/..data -> ..2           the link the kubelet swaps
//! <root>/lds.json -> ..data/lds.json
//! ```
//!
//! An update writes the new version's directory, points a new link `..data_tmp` at it and
//! renames that over `..data` (the one atomic step, and the move Envoy's `watched_directory`
//! reacts to), then links keys that are new, removes keys that are gone, and deletes the old
//! version's directory, in the kubelet's order.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// One mounted ConfigMap volume.
pub struct ConfigMapVolume {
    root: PathBuf,
    version: u32,
    keys: Vec<String>,
}

impl ConfigMapVolume {
    /// An empty volume at `root` (created).
    pub fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root).unwrap();
        ConfigMapVolume {
            root: root.to_path_buf(),
            version: 0,
            keys: Vec::new(),
        }
    }

    /// Replaces the volume's content with `data` (key → file content), as the kubelet does.
    pub fn project(&mut self, data: &BTreeMap<String, String>) {
        let previous = self.version;
        self.version += 1;
        let version_dir = format!("..{}", self.version);
        std::fs::create_dir(self.root.join(&version_dir)).unwrap();
        for (key, content) in data {
            std::fs::write(self.root.join(&version_dir).join(key), content).unwrap();
        }
        let tmp = self.root.join("..data_tmp");
        symlink(&version_dir, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        for key in data.keys() {
            if !self.keys.contains(key) {
                symlink(format!("..data/{key}"), self.root.join(key)).unwrap();
            }
        }
        for key in &self.keys {
            if !data.contains_key(key) {
                std::fs::remove_file(self.root.join(key)).unwrap();
            }
        }
        if previous > 0 {
            std::fs::remove_dir_all(self.root.join(format!("..{previous}"))).unwrap();
        }
        self.keys = data.keys().cloned().collect();
    }
}
