//! The make-before-break order in which a change of configuration is applied.
//!
//! A running Envoy serves requests throughout a change, so no step may leave it routing to
//! something that is not there yet:
//!
//! 1. secrets and clusters are added first (the old ones are kept), so every filter config,
//!    old or new, finds what it names;
//! 2. then the filter configs (ECDS), which may route to the new clusters;
//! 3. then the listeners, which may use new secrets and filter configs;
//! 4. only then are clusters and secrets nobody uses any more removed.
//!
//! Each step carries the complete set of its resource type (state of the world), as file-based
//! xDS and state-of-the-world ADS both deliver it. [`undo`] gives the steps that put the old
//! configuration back after a step was refused.

use crate::api::{Cluster, Listener, Secret, TypedExtensionConfig};
use crate::snapshot::Snapshot;

/// One step of a rollout: the whole set of one resource type to deliver.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Every secret Envoy should hold.
    Secrets(Vec<Secret>),
    /// Every cluster Envoy should hold.
    Clusters(Vec<Cluster>),
    /// One filter configuration (ECDS resources are delivered by name).
    FilterConfig(TypedExtensionConfig),
    /// Every listener Envoy should hold.
    Listeners(Vec<Listener>),
}

impl Step {
    /// A short name for logs and reports: `secrets`, `clusters`, the filter's name, `listeners`.
    pub fn resource(&self) -> &str {
        match self {
            Step::Secrets(_) => "secrets",
            Step::Clusters(_) => "clusters",
            Step::FilterConfig(config) => &config.name,
            Step::Listeners(_) => "listeners",
        }
    }
}

/// The steps that take Envoy from `old` (what it serves now; `None` before anything was
/// delivered) to `new`. Resources that do not change get no step.
pub fn rollout(old: Option<&Snapshot>, new: &Snapshot) -> Vec<Step> {
    let empty = Snapshot {
        version: String::new(),
        listeners: vec![],
        clusters: vec![],
        filter_configs: vec![],
        secrets: vec![],
    };
    let old = old.unwrap_or(&empty);
    let mut steps = Vec::new();

    let secrets = union_by_name(&new.secrets, &old.secrets, |s| &s.name);
    if secrets != old.secrets {
        steps.push(Step::Secrets(secrets.clone()));
    }
    let clusters = union_by_name(&new.clusters, &old.clusters, |c| &c.name);
    if clusters != old.clusters {
        steps.push(Step::Clusters(clusters.clone()));
    }
    for config in &new.filter_configs {
        if old.filter_config(&config.name) != Some(config) {
            steps.push(Step::FilterConfig(config.clone()));
        }
    }
    if new.listeners != old.listeners {
        steps.push(Step::Listeners(new.listeners.clone()));
    }
    if clusters != new.clusters {
        steps.push(Step::Clusters(new.clusters.clone()));
    }
    if secrets != new.secrets {
        steps.push(Step::Secrets(new.secrets.clone()));
    }
    steps
}

/// The steps that put `old` back after `applied` (a prefix of a rollout from `old`) took
/// effect, in reverse order: listeners first, then filter configs, then clusters and secrets,
/// so nothing in use disappears before its user is back on the old configuration. A filter
/// configuration that `old` did not have is left in place: no listener of `old` uses it.
pub fn undo(old: &Snapshot, applied: &[Step]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for step in applied.iter().rev() {
        let back = match step {
            Step::Secrets(_) => Some(Step::Secrets(old.secrets.clone())),
            Step::Clusters(_) => Some(Step::Clusters(old.clusters.clone())),
            Step::FilterConfig(config) => old
                .filter_config(&config.name)
                .cloned()
                .map(Step::FilterConfig),
            Step::Listeners(_) => Some(Step::Listeners(old.listeners.clone())),
        };
        if let Some(back) = back
            && !steps.iter().any(|s| s.resource() == back.resource())
        {
            steps.push(back);
        }
    }
    steps
}

/// `new`, then every item of `old` whose name `new` lacks (kept until nothing uses it).
fn union_by_name<T: Clone>(new: &[T], old: &[T], name: impl Fn(&T) -> &String) -> Vec<T> {
    let mut all = new.to_vec();
    all.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| name(n) == name(o)))
            .cloned(),
    );
    all
}

#[cfg(test)]
mod tests;
