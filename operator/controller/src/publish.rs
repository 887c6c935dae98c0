//! The publisher: reads the stores after each burst of changes and publishes new inputs to the
//! xDS server, when they differ from the last ones.
//!
//! A burst (`kubectl apply -f dir/`) is one publication: the publisher waits until the stores
//! have been quiet for `quiet`, or `at_most` after the first change of the burst, whichever
//! comes first. Nothing is published before every watch has its initial list (a partial
//! picture would withdraw routes), nor while this replica is not the leader.

use std::sync::Arc;
use std::time::Duration;

use portcullis_compile::diagnostics::Diagnostic;
use portcullis_compile::istio::Resources;
use portcullis_xds::{Inputs, WorkloadSettings, XdsServer};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::inputs::{inputs, named_secrets};
use crate::metrics::Metrics;
use crate::watch::{Changes, Stores};

/// How bursts are grouped.
#[derive(Clone, Copy, Debug)]
pub struct Debounce {
    /// Publish once the stores have been quiet this long.
    pub quiet: Duration,
    /// … but no later than this after the first change.
    pub at_most: Duration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: Duration::from_millis(20),
            at_most: Duration::from_millis(250),
        }
    }
}

/// One publication, as the reconciler sees it.
#[derive(Clone, Debug, Default)]
pub struct Publication {
    /// Counts publications (0: none yet).
    pub generation: u64,
    /// Objects that could not be read at all.
    pub unreadable: Vec<Diagnostic>,
    /// The workload settings published.
    pub workloads: Vec<WorkloadSettings>,
}

/// Publishes until the task is dropped.
pub async fn run(
    stores: Arc<Stores>,
    server: XdsServer,
    changes: Changes,
    leading: watch::Receiver<bool>,
    debounce: Debounce,
    published: watch::Sender<Arc<Publication>>,
    metrics: Arc<Metrics>,
) {
    let mut changed = changes.subscribe();
    let mut leading = leading;
    stores.ready().await;
    tracing::info!("initial lists loaded");
    let _ = leading.wait_for(|l| *l).await;
    tracing::info!("leading: publishing");
    let mut last: Option<(Resources, Vec<WorkloadSettings>)> = None;
    loop {
        settle(&mut changed, debounce).await;
        let objects = stores.objects();
        stores
            .watch_secrets(&named_secrets(&objects), Duration::from_secs(2))
            .await;
        // The Secret watches may have filled in the meantime.
        let objects = stores.objects();
        let started = std::time::Instant::now();
        let built = inputs(&objects);
        let Inputs::Resources {
            resources,
            workloads,
            ..
        } = &built.inputs
        else {
            continue;
        };
        let current = (resources.clone(), workloads.clone());
        if last.as_ref() != Some(&current) {
            let generation = published.borrow().generation + 1;
            tracing::info!(
                generation,
                objects = objects.istio.len(),
                secrets = objects.secrets.len(),
                filters = objects.filters.len(),
                unreadable = built.unreadable.len(),
                "publishing"
            );
            server.publish(built.inputs.clone());
            metrics.publications.inc();
            metrics
                .build_seconds
                .observe(started.elapsed().as_secs_f64());
            published.send_replace(Arc::new(Publication {
                generation,
                unreadable: built.unreadable,
                workloads: current.1.clone(),
            }));
            last = Some(current);
        }
        if changed.changed().await.is_err() {
            return;
        }
    }
}

/// Returns once a burst of changes is over.
async fn settle(changed: &mut watch::Receiver<u64>, debounce: Debounce) {
    let deadline = Instant::now() + debounce.at_most;
    changed.mark_unchanged();
    loop {
        let quiet = tokio::time::sleep(debounce.quiet);
        tokio::select! {
            _ = quiet => return,
            _ = tokio::time::sleep_until(deadline) => return,
            result = changed.changed() => if result.is_err() { return },
        }
    }
}
