//! Executing rollout steps on file-based xDS: each step rewrites one resource type's file
//! atomically and waits until Envoy's stats count it as accepted or rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_envoy::api::{DiscoveryResponse, Secret, to_json_value};
use portcullis_envoy::rollout::Step;
use portcullis_envoy::{
    ConfigDir, clusters_response, filter_config_response, listeners_response, secret_response,
};

use crate::envoy::{Admin, Error, Result, write_atomically};

/// How long Envoy may take to confirm one file update.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration directory of one Envoy, and the secrets written to it so far.
#[derive(Debug)]
pub struct FileDelivery {
    dir: ConfigDir,
    /// Secrets on disk by name: an SDS subscription exists for each (unused ones are deleted at
    /// the end of every rollout), so a change of one must be confirmed.
    secrets: Mutex<BTreeMap<String, Secret>>,
}

impl FileDelivery {
    /// Delivery into `dir` (created beforehand).
    pub fn new(dir: ConfigDir) -> Self {
        FileDelivery {
            dir,
            secrets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Writes `step` without waiting for Envoy (before it runs, or for a resource no
    /// subscription reads yet).
    pub fn write(&self, step: &Step, version: &str) -> Result<()> {
        match step {
            Step::Secrets(secrets) => {
                self.write_secrets(secrets)?;
                Ok(())
            }
            _ => {
                let (file, doc) = self.document(step, version);
                write_atomically(&file, &to_json_value(&doc))
            }
        }
    }

    /// Writes `step` and waits until Envoy accepts it; a rejection or no answer within
    /// [`CONFIRM_TIMEOUT`] is an error (Envoy then keeps what it had).
    pub async fn apply(&self, admin: &Admin, step: &Step, version: &str) -> Result<()> {
        match step {
            Step::Secrets(secrets) => {
                let changed = self.write_secrets_confirmable(admin, secrets).await?;
                for (name, baseline) in changed {
                    confirm(admin, &Subscription::Sds(name), baseline).await?;
                }
                Ok(())
            }
            _ => {
                let (file, doc) = self.document(step, version);
                let sub = match step {
                    Step::Clusters(_) => Subscription::Cds,
                    Step::Listeners(_) => Subscription::Lds,
                    Step::FilterConfig(config) => Subscription::Ecds(config.name.clone()),
                    Step::Secrets(_) => return Ok(()),
                };
                let baseline = Baseline::read(admin, &sub).await?;
                write_atomically(&file, &to_json_value(&doc))?;
                confirm(admin, &sub, baseline).await
            }
        }
    }

    /// The file and document of a non-secret step.
    fn document(&self, step: &Step, version: &str) -> (PathBuf, DiscoveryResponse) {
        match step {
            Step::Clusters(clusters) => (self.dir.clusters_file(), clusters_response(clusters)),
            Step::Listeners(listeners) => {
                (self.dir.listeners_file(), listeners_response(listeners))
            }
            Step::FilterConfig(config) => (
                self.dir.filter_config_file(&config.name),
                filter_config_response(version, config),
            ),
            Step::Secrets(_) => (self.dir.root().to_path_buf(), empty_response()),
        }
    }

    /// Writes new and changed secrets, deletes the files of secrets no longer listed.
    fn write_secrets(&self, secrets: &[Secret]) -> Result<Vec<String>> {
        let mut on_disk = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = Vec::new();
        for secret in secrets {
            if on_disk.get(&secret.name) != Some(secret) {
                let file = self.dir.secret_file(&secret.name);
                write_atomically(&file, &to_json_value(&secret_response(secret)))?;
                if on_disk
                    .insert(secret.name.clone(), secret.clone())
                    .is_some()
                {
                    changed.push(secret.name.clone());
                }
            }
        }
        let gone: Vec<String> = on_disk
            .keys()
            .filter(|name| !secrets.iter().any(|s| &s.name == *name))
            .cloned()
            .collect();
        for name in gone {
            remove_file(&self.dir.secret_file(&name))?;
            on_disk.remove(&name);
        }
        Ok(changed)
    }

    /// [`Self::write_secrets`], returning each changed secret with its stats before the write.
    async fn write_secrets_confirmable(
        &self,
        admin: &Admin,
        secrets: &[Secret],
    ) -> Result<Vec<(String, Baseline)>> {
        let known: Vec<String> = {
            let on_disk = self
                .secrets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            secrets
                .iter()
                .filter(|s| on_disk.get(&s.name).is_some_and(|d| d != *s))
                .map(|s| s.name.clone())
                .collect()
        };
        let mut baselines = Vec::new();
        for name in known {
            let sub = Subscription::Sds(name.clone());
            baselines.push((name, Baseline::read(admin, &sub).await?));
        }
        let changed = self.write_secrets(secrets)?;
        Ok(baselines
            .into_iter()
            .filter(|(name, _)| changed.contains(name))
            .collect())
    }
}

fn empty_response() -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: String::new(),
        resources: vec![],
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// One xDS subscription, named by its stats.
#[derive(Clone, Debug)]
enum Subscription {
    Cds,
    Lds,
    Ecds(String),
    Sds(String),
}

impl Subscription {
    fn prefix(&self) -> String {
        match self {
            Subscription::Cds => "cluster_manager.cds".into(),
            Subscription::Lds => "listener_manager.lds".into(),
            Subscription::Ecds(name) => ecds_prefix(name),
            Subscription::Sds(name) => format!("sds.{name}"),
        }
    }
    fn resource(&self) -> String {
        match self {
            Subscription::Cds => "clusters".into(),
            Subscription::Lds => "listeners".into(),
            Subscription::Ecds(name) => name.clone(),
            Subscription::Sds(name) => format!("secret {name}"),
        }
    }
}

fn ecds_prefix(filter: &str) -> String {
    format!("extension_config_discovery.http_filter.{filter}")
}

/// The stat counting rejected configurations of the HTTP filter `filter`.
pub fn ecds_rejected_stat(filter: &str) -> String {
    format!("{}.update_rejected", ecds_prefix(filter))
}

/// A subscription's success and rejection counts before a write.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    success: u64,
    rejected: u64,
}

impl Baseline {
    async fn read(admin: &Admin, sub: &Subscription) -> Result<Self> {
        Ok(Baseline {
            success: admin
                .counter(&format!("{}.update_success", sub.prefix()))
                .await?,
            rejected: admin
                .counter(&format!("{}.update_rejected", sub.prefix()))
                .await?,
        })
    }
}

/// Waits until Envoy counts one more success or rejection of `sub` than `before`.
async fn confirm(admin: &Admin, sub: &Subscription, before: Baseline) -> Result<()> {
    let deadline = Instant::now() + CONFIRM_TIMEOUT;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = Baseline::read(admin, sub).await?;
        if now.rejected > before.rejected {
            return Err(Error::Rejected {
                resource: sub.resource(),
                detail: "update_rejected".into(),
            });
        }
        if now.success > before.success {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Rejected {
                resource: sub.resource(),
                detail: format!("no confirmation within {CONFIRM_TIMEOUT:?}"),
            });
        }
    }
}
