//! The watches: one reflector per Istio kind (cluster-wide, or one namespace), and one per
//! Secret a Gateway names, each restricted by a field selector to that one Secret so the
//! controller never lists or reads any other Secret.
//!
//! Every store change bumps [`Changes`]; the publisher reads the stores and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::crd::GatewayFilter;
use crate::inputs::{ISTIO_KINDS, Objects, istio_resource};

/// Counts changes to any store; receivers wake on each.
#[derive(Clone, Debug)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::Sender::new(0)))
    }
}

impl Changes {
    /// Records a change.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes on changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Where the controller looks.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only this namespace (else every namespace).
    pub namespace: Option<String>,
}

impl Scope {
    fn api(&self, client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
        match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
            None => Api::all_with(client.clone(), resource),
        }
    }
}

/// The reflector stores, filled by background watches.
pub struct Stores {
    client: Client,
    istio: Vec<Store<DynamicObject>>,
    filters: Store<GatewayFilter>,
    secrets: Mutex<BTreeMap<(String, String), SecretWatch>>,
    changes: Changes,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field(
                "istio",
                &self.istio.iter().map(Store::len).collect::<Vec<_>>(),
            )
            .field("filters", &self.filters.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct SecretWatch {
    store: Store<Secret>,
    task: JoinHandle<()>,
}

impl Drop for Stores {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for watch in self
            .secrets
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            watch.task.abort();
        }
    }
}

impl Stores {
    /// Starts a watch per Istio kind, plus the GatewayFilter watch whose store the caller
    /// already has (the Controller's own).
    pub fn start(
        client: Client,
        scope: &Scope,
        filters: Store<GatewayFilter>,
        changes: Changes,
    ) -> Self {
        let mut istio = Vec::new();
        let mut tasks = Vec::new();
        for kind in ISTIO_KINDS {
            let resource = istio_resource(kind);
            let api = scope.api(&client, &resource);
            let writer = reflector::store::Writer::new(resource);
            istio.push(writer.as_reader());
            tasks.push(spawn_reflector(
                api,
                watcher::Config::default(),
                writer,
                changes.clone(),
                kind,
            ));
        }
        Stores {
            client,
            istio,
            filters,
            secrets: Mutex::default(),
            changes,
            tasks,
        }
    }

    /// Waits until every store has its initial list.
    pub async fn ready(&self) {
        for (store, kind) in self.istio.iter().zip(ISTIO_KINDS) {
            ready(store).await;
            tracing::debug!(kind, "listed");
        }
        ready(&self.filters).await;
        tracing::debug!(kind = "GatewayFilter", "listed");
    }

    /// Watches exactly the Secrets in `wanted`, stopping watches no longer wanted; waits up to
    /// `patience` for new watches' first list, so a Gateway is not compiled without a Secret
    /// that exists.
    pub async fn watch_secrets(&self, wanted: &BTreeSet<(String, String)>, patience: Duration) {
        let mut started = Vec::new();
        {
            let mut secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
            secrets.retain(|key, watch| {
                let keep = wanted.contains(key);
                if !keep {
                    watch.task.abort();
                }
                keep
            });
            for (namespace, name) in wanted {
                let key = (namespace.clone(), name.clone());
                if secrets.contains_key(&key) {
                    continue;
                }
                let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
                let writer = reflector::store::Writer::default();
                let store = writer.as_reader();
                let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
                let task = spawn_reflector(api, config, writer, self.changes.clone(), "Secret");
                started.push(store.clone());
                secrets.insert(key, SecretWatch { store, task });
            }
        }
        for store in started {
            let _ = tokio::time::timeout(patience, ready(&store)).await;
        }
    }

    /// What the stores hold now.
    pub fn objects(&self) -> Objects {
        let secrets = self
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .flat_map(|w| w.store.state())
            .collect();
        Objects {
            istio: self.istio.iter().flat_map(Store::state).collect(),
            secrets,
            filters: self.filters.state(),
        }
    }
}

/// Waits until `store` has its initial list. `Store::wait_until_ready` wakes only the task
/// that polled it last (kube-runtime 5 keeps one waker), and the Controller waits on the
/// GatewayFilter store too: so wait in short rounds, each of which sees a readiness that
/// happened meanwhile.
async fn ready<K>(store: &Store<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash,
{
    while tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready())
        .await
        .is_err()
    {}
}

fn spawn_reflector<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
    changes: Changes,
    what: &'static str,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
{
    tokio::spawn(async move {
        watcher(api, config)
            .default_backoff()
            .reflect(writer)
            .for_each(|event| {
                match event {
                    Ok(_) => changes.bump(),
                    Err(e) => tracing::warn!(kind = what, error = %e, "watch failed; retrying"),
                }
                async {}
            })
            .await;
    })
}
