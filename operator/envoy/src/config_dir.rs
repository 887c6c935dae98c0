//! Where file-based xDS puts each document. Paths only: creating and writing the files is the
//! runner's job.

use std::path::{Path, PathBuf};

/// The directory Envoy reads its bootstrap and xDS files from.
///
/// One directory per xDS resource, so that a rename in one directory only wakes the
/// subscription that owns it (Envoy's `watched_directory` reloads on any move into the dir):
///
/// ```text
/// <config dir>/bootstrap.json
/// <config dir>/lds/lds.json                    listeners (LDS DiscoveryResponse)
/// <config dir>/cds/cds.json                    clusters  (CDS DiscoveryResponse)
/// <config dir>/ecds-router/router.json         router wasm filter config (ECDS)
/// <config dir>/ecds-egress-audit/audit.json    egress-audit wasm filter config (ECDS)
/// <config dir>/sds/<secret name>.json          one TLS secret each (SDS)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDir {
    root: PathBuf,
}

impl ConfigDir {
    /// A configuration directory rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ConfigDir { root: root.into() }
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
    /// The ECDS file of the filter named `name`.
    pub fn filter_config_file(&self, name: &str) -> PathBuf {
        match name {
            crate::ROUTER_FILTER => self.router_file(),
            crate::EGRESS_AUDIT_FILTER => self.egress_audit_file(),
            other => {
                let stem = file_safe(other);
                self.root
                    .join(format!("ecds-{stem}"))
                    .join(format!("{stem}.json"))
            }
        }
    }
    /// The SDS file of the secret named `name`.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        self.root
            .join("sds")
            .join(format!("{}.json", file_safe(name)))
    }
    /// Every directory an xDS file lives in, for creating them.
    pub fn xds_dirs(&self) -> Vec<PathBuf> {
        [
            self.listeners_file(),
            self.clusters_file(),
            self.router_file(),
            self.egress_audit_file(),
            self.secret_file("x"),
        ]
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect()
    }
}

/// `name` with every character outside `[A-Za-z0-9._-]` replaced by `_`, so a resource name
/// can never escape its directory.
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
