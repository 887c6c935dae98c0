//! Where file-based xDS puts each document. Paths only: creating and writing the files is the
//! writer's job.

use std::path::{Path, PathBuf};

/// The directory Envoy reads its xDS files from, in one of two layouts.
///
/// **Per resource** ([`ConfigDir::new`]): one directory per xDS resource, so that a rename in
/// one directory only wakes the subscription that owns it (Envoy's `watched_directory`
/// reloads on any move into the directory):
///
/// ```text
/// <config dir>/bootstrap.json
/// <config dir>/lds/lds.json                    listeners (LDS DiscoveryResponse)
/// <config dir>/cds/cds.json                    clusters  (CDS DiscoveryResponse)
/// <config dir>/ecds-router/router.json         router wasm filter config (ECDS)
/// <config dir>/ecds-egress-audit/audit.json    egress-audit wasm filter config (ECDS)
/// <config dir>/sds/<secret name>.json          one TLS secret each (SDS)
/// ```
///
/// **Mounted** ([`ConfigDir::mounted`]): every document a file at the root, as a Kubernetes
/// ConfigMap volume presents its keys (a key cannot contain `/`). The kubelet replaces all of
/// them at once by renaming its `..data` link inside the root, so every subscription watches
/// the root and reloads on that move:
///
/// ```text
/// <mount>/lds.json  <mount>/cds.json  <mount>/ecds-router.json  <mount>/ecds-egress-audit.json
/// <mount>/sds-<secret name>.json
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
    layout: Layout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    PerResource,
    Mounted,
}

impl ConfigDir {
    /// A configuration directory rooted at `root`, one directory per resource.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ConfigDir {
            root: root.into(),
            layout: Layout::PerResource,
        }
    }

    /// A ConfigMap volume mounted at `root`: every document a file at the root.
    pub fn mounted(root: impl Into<PathBuf>) -> Self {
        ConfigDir {
            root: root.into(),
            layout: Layout::Mounted,
        }
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
        self.file("lds/lds.json", "lds.json")
    }
    /// The CDS file.
    pub fn clusters_file(&self) -> PathBuf {
        self.file("cds/cds.json", "cds.json")
    }
    /// The router's ECDS file.
    pub fn router_file(&self) -> PathBuf {
        self.filter_config_file(crate::ROUTER_FILTER)
    }
    /// The egress-audit filter's ECDS file.
    pub fn egress_audit_file(&self) -> PathBuf {
        self.filter_config_file(crate::EGRESS_AUDIT_FILTER)
    }
    /// The ECDS file of the filter named `name`.
    pub fn filter_config_file(&self, name: &str) -> PathBuf {
        let stem = match name {
            crate::ROUTER_FILTER => "router".to_string(),
            crate::EGRESS_AUDIT_FILTER => "egress-audit".to_string(),
            other => file_safe(other),
        };
        let leaf = match name {
            crate::EGRESS_AUDIT_FILTER => "audit.json".to_string(),
            _ => format!("{stem}.json"),
        };
        self.file(&format!("ecds-{stem}/{leaf}"), &format!("ecds-{stem}.json"))
    }
    /// The SDS file of the secret named `name`.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        let name = file_safe(name);
        self.file(&format!("sds/{name}.json"), &format!("sds-{name}.json"))
    }
    /// Every directory an xDS file lives in, for creating them.
    pub fn xds_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = [
            self.listeners_file(),
            self.clusters_file(),
            self.router_file(),
            self.egress_audit_file(),
            self.secret_file("x"),
        ]
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
        dirs.dedup();
        dirs
    }

    /// The file at `per_resource` (a relative path) or, in a mount, `flat` at the root.
    fn file(&self, per_resource: &str, flat: &str) -> PathBuf {
        match self.layout {
            Layout::PerResource => self.root.join(per_resource),
            Layout::Mounted => self.root.join(flat),
        }
    }
}

/// `name` with every character outside `[A-Za-z0-9._-]` replaced by `_`, so a resource name
/// can never escape its directory (and is a valid ConfigMap key).
fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `.` and `..` are names too.
    if safe.chars().all(|c| c == '.') {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_resource_layout_is_unchanged() {
        let dir = ConfigDir::new("/cfg");
        assert_eq!(dir.listeners_file(), PathBuf::from("/cfg/lds/lds.json"));
        assert_eq!(dir.clusters_file(), PathBuf::from("/cfg/cds/cds.json"));
        assert_eq!(
            dir.router_file(),
            PathBuf::from("/cfg/ecds-router/router.json")
        );
        assert_eq!(
            dir.egress_audit_file(),
            PathBuf::from("/cfg/ecds-egress-audit/audit.json")
        );
        assert_eq!(dir.secret_file("a/b"), PathBuf::from("/cfg/sds/a_b.json"));
    }

    #[test]
    fn a_mount_keeps_every_document_at_its_root() {
        let dir = ConfigDir::mounted("/etc/portcullis/config");
        let files = [
            dir.listeners_file(),
            dir.clusters_file(),
            dir.router_file(),
            dir.egress_audit_file(),
            dir.filter_config_file(crate::EGRESS_AUDIT_TCP_FILTER),
            dir.secret_file("../../etc/passwd"),
        ];
        for file in &files {
            assert_eq!(file.parent(), Some(dir.root()), "{}", file.display());
        }
        assert_eq!(
            dir.listeners_file(),
            PathBuf::from("/etc/portcullis/config/lds.json")
        );
        assert_eq!(
            dir.router_file(),
            PathBuf::from("/etc/portcullis/config/ecds-router.json")
        );
        assert_eq!(
            dir.xds_dirs(),
            vec![PathBuf::from("/etc/portcullis/config")]
        );
    }
}
