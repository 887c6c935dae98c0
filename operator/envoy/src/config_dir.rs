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
    /// Every xDS file, for creating their directories.
    pub fn xds_files(&self) -> [PathBuf; 4] {
        [
            self.listeners_file(),
            self.clusters_file(),
            self.router_file(),
            self.egress_audit_file(),
        ]
    }
}
