//! What each connected proxy runs, as `portcullis status` and the controller report it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::identity::ProxyIdentity;

/// One connected proxy, as `istioctl proxy-status` would show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    /// `node.id`.
    pub node_id: String,
    /// Its stream, unique while connected (a node may reconnect).
    pub stream: u64,
    /// The gateway workload's labels.
    pub labels: BTreeMap<String, String>,
    /// The gateway workload's namespace.
    pub namespace: String,
    /// When the stream opened (seconds since the Unix epoch).
    pub connected_at: u64,
    /// The configuration it serves as a whole (content hash), once it accepted one.
    pub acked: Option<String>,
    /// The configuration being delivered to it (equal to `acked` when in sync).
    pub sent: Option<String>,
    /// Its last refusal.
    pub last_nack: Option<Nack>,
    /// A configuration is being delivered (or a refused one undone).
    pub rolling_out: bool,
    /// What the last rollout to it changed, step by step (`clusters`, a filter's name,
    /// `listeners`, `secrets`).
    pub last_rollout: Vec<String>,
    /// Why it has no configuration of its own, when it has none: its resources do not compile,
    /// or no Gateway selects it.
    pub note: Option<String>,
}

impl ProxyStatus {
    /// In sync: it serves what it was sent.
    pub fn synced(&self) -> bool {
        self.acked.is_some() && self.acked == self.sent && !self.rolling_out
    }

    /// It serves configuration `version` as a whole, and nothing else is being delivered.
    pub fn synced_to(&self, version: &str) -> bool {
        self.synced() && self.acked.as_deref() == Some(version)
    }
}

/// A refused response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nack {
    /// The resource type (`lds`, `cds`, `ecds`, `sds`).
    pub resource_type: String,
    /// What the refused response changed (`listeners`, a filter's name, …).
    pub resource: String,
    /// The configuration it belonged to.
    pub version: String,
    /// Envoy's reason.
    pub detail: String,
    /// When (seconds since the Unix epoch).
    pub at: u64,
}

/// Every connected proxy, by stream.
#[derive(Debug, Default)]
pub struct Registry {
    proxies: Mutex<BTreeMap<u64, ProxyStatus>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Registry {
    /// Registers a new stream.
    pub fn connect(&self, stream: u64, identity: &ProxyIdentity) {
        self.update(stream, |_| {}, Some(identity));
    }

    /// Forgets a closed stream.
    pub fn disconnect(&self, stream: u64) {
        self.lock().remove(&stream);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Changes one proxy's status.
    pub fn modify(&self, stream: u64, change: impl FnOnce(&mut ProxyStatus)) {
        self.update(stream, change, None);
    }

    fn update(
        &self,
        stream: u64,
        change: impl FnOnce(&mut ProxyStatus),
        identity: Option<&ProxyIdentity>,
    ) {
        {
            let mut proxies = self.lock();
            let entry = match identity {
                Some(id) => proxies.entry(stream).or_insert_with(|| ProxyStatus {
                    node_id: id.node_id.clone(),
                    stream,
                    labels: id.gateway.labels.clone(),
                    namespace: id.gateway.namespace.clone(),
                    connected_at: now(),
                    acked: None,
                    sent: None,
                    last_nack: None,
                    rolling_out: false,
                    last_rollout: Vec::new(),
                    note: None,
                }),
                None => match proxies.get_mut(&stream) {
                    Some(entry) => entry,
                    None => return,
                },
            };
            change(entry);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Every connected proxy, by node id then stream.
    pub fn list(&self) -> Vec<ProxyStatus> {
        let mut all: Vec<ProxyStatus> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| (&a.node_id, a.stream).cmp(&(&b.node_id, b.stream)));
        all
    }

    /// Notified on every change (a counter).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ProxyStatus>> {
        self.proxies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
