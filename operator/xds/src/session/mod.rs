//! One proxy's ADS stream as a pure state machine: requests and new configurations in,
//! responses and events out. No I/O and no clock, so every ordering is testable.
//!
//! The session keeps a *view*: what Envoy has been told, one resource type at a time. A new
//! configuration is rolled out from the last one the proxy accepted as a whole (*serving*) in
//! the make-before-break order of [`portcullis_envoy::rollout`], one step at a time, each
//! step's response waiting for that proxy's ACK before the next is sent. A NACK stops the
//! rollout and undoes the steps already taken, in reverse order, so the proxy ends up serving
//! its previous configuration as a whole. Requests of other types keep being answered from the
//! view meanwhile: a new listener warms until its filter config arrives, and Envoy asks for it
//! before it acknowledges the listeners.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_envoy::Snapshot;
use portcullis_envoy::api::TypedConfig;
use portcullis_envoy::rollout::{Step, rollout, undo};

use crate::resource::{ResourceType, resources_of, version_of};

/// A DiscoveryRequest, as much of it as the session reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The type URL.
    pub type_url: String,
    /// The version Envoy last accepted for this type.
    pub version_info: String,
    /// The names asked for (empty for wildcard types).
    pub resource_names: Vec<String>,
    /// The nonce of the response this request answers; empty on a new subscription.
    pub response_nonce: String,
    /// Present when the answered response was rejected: Envoy's reason.
    pub error_detail: Option<String>,
}

/// A DiscoveryResponse to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Its type.
    pub kind: ResourceType,
    /// Digest of its resources.
    pub version: String,
    /// Unique within the session; Envoy echoes it in its ACK or NACK.
    pub nonce: String,
    /// The resources, by name.
    pub resources: Vec<(String, TypedConfig)>,
}

/// Something a caller records (log, metric, status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Envoy accepted the response `nonce`.
    Acked {
        /// The type.
        kind: ResourceType,
        /// The response.
        nonce: String,
    },
    /// A rollout step was delivered: `resource` is `clusters`, `listeners`, `secrets` or a
    /// filter's name.
    Delivered {
        /// What the step changed.
        resource: String,
    },
    /// Envoy rejected the response `nonce`.
    Nacked {
        /// The type.
        kind: ResourceType,
        /// What the refused response changed (a step's resource, or the type's short name).
        resource: String,
        /// The response.
        nonce: String,
        /// The configuration the response belonged to.
        config_version: String,
        /// Envoy's reason.
        detail: String,
    },
    /// The proxy now serves configuration `version` as a whole.
    Serving {
        /// The configuration's content hash.
        version: String,
    },
    /// A rollout was refused and undone: the proxy serves `serving` again.
    RolledBack {
        /// The refused configuration.
        refused: String,
        /// What it serves.
        serving: String,
    },
}

/// What a call into the session produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// Responses to send, in order.
    pub responses: Vec<Response>,
    /// Events to record, in order.
    pub events: Vec<Event>,
}

/// One subscription of the stream.
#[derive(Clone, Debug, Default)]
struct Subscription {
    names: Vec<String>,
    /// The last response sent, unanswered until `answered`.
    sent: Option<Sent>,
}

#[derive(Clone, Debug)]
struct Sent {
    nonce: String,
    resources: Vec<(String, TypedConfig)>,
    answered: bool,
}

/// A rollout in progress.
#[derive(Clone, Debug)]
struct Rollout {
    target: Arc<Snapshot>,
    steps: Vec<Step>,
    /// Steps taken so far (for undo).
    taken: usize,
    /// The response of the current step, awaiting its ACK: its type, nonce and resource.
    awaiting: Option<(ResourceType, String, String)>,
    /// Set once a step was refused: the undo steps being taken, and Envoy's reason.
    undoing: Option<String>,
}

/// The state of one proxy's stream.
#[derive(Debug)]
pub struct Session {
    subscriptions: BTreeMap<ResourceType, Subscription>,
    view: Snapshot,
    serving: Option<Snapshot>,
    /// The configuration this proxy should run (the newest one published for it).
    target: Arc<Snapshot>,
    rollout: Option<Rollout>,
    /// A configuration published during a rollout, rolled out after it.
    queued: Option<Arc<Snapshot>>,
    /// The newest configuration the proxy refused; not retried until a newer one arrives.
    refused: Option<String>,
    nonces: u64,
}

impl Session {
    /// A session that will deliver `target` to a proxy that just connected.
    pub fn new(target: Arc<Snapshot>) -> Self {
        Session {
            subscriptions: BTreeMap::new(),
            view: (*target).clone(),
            serving: None,
            target,
            rollout: None,
            queued: None,
            refused: None,
            nonces: 0,
        }
    }

    /// The configuration the proxy serves as a whole, once it has accepted one.
    pub fn serving(&self) -> Option<&str> {
        self.serving.as_ref().map(|s| s.version.as_str())
    }

    /// The configuration being delivered (equal to [`Session::serving`] when in sync).
    pub fn target(&self) -> &str {
        &self.target.version
    }

    /// A rollout is in progress.
    pub fn rolling_out(&self) -> bool {
        self.rollout.is_some()
    }

    /// Handles one request from Envoy.
    pub fn on_request(&mut self, request: &Request) -> Output {
        let mut out = Output::default();
        let Some(kind) = ResourceType::from_url(&request.type_url) else {
            return out;
        };
        let sub = self.subscriptions.entry(kind).or_default();
        let answers_last = sub.sent.as_ref().is_some_and(|s| {
            !request.response_nonce.is_empty() && s.nonce == request.response_nonce
        });
        if !request.response_nonce.is_empty() && !answers_last {
            // An answer to an older response: a newer one is on its way to Envoy.
            return out;
        }
        let names_changed = sub.names != request.resource_names;
        sub.names = request.resource_names.clone();
        if answers_last {
            let nonce = request.response_nonce.clone();
            if let Some(sent) = &mut sub.sent {
                sent.answered = true;
            }
            match &request.error_detail {
                Some(detail) => {
                    let resource = match &self.rollout {
                        Some(Rollout {
                            awaiting: Some((k, n, resource)),
                            ..
                        }) if *k == kind && *n == nonce => resource.clone(),
                        _ => kind.short().to_string(),
                    };
                    out.events.push(Event::Nacked {
                        kind,
                        resource,
                        nonce: nonce.clone(),
                        config_version: self.target.version.clone(),
                        detail: detail.clone(),
                    });
                    self.on_nack(kind, &nonce, detail);
                }
                None => {
                    out.events.push(Event::Acked {
                        kind,
                        nonce: nonce.clone(),
                    });
                    self.on_ack(kind, &nonce);
                }
            }
            if names_changed {
                self.push(kind, &mut out, true);
            }
        } else {
            // A new subscription (or a reconnecting Envoy): answer from the view.
            self.push(kind, &mut out, true);
        }
        self.drive(&mut out);
        out
    }

    /// A new configuration for this proxy.
    pub fn on_target(&mut self, target: Arc<Snapshot>) -> Output {
        let mut out = Output::default();
        if target.version == self.target.version {
            // Already delivered or being delivered; a queued newer one is superseded.
            self.queued = None;
            return out;
        }
        self.refused = None;
        if self.rollout.is_some() {
            self.queued = Some(target);
            return out;
        }
        self.start(target, &mut out);
        self.drive(&mut out);
        out
    }

    fn start(&mut self, target: Arc<Snapshot>, out: &mut Output) {
        self.target = Arc::clone(&target);
        match &self.serving {
            Some(serving) => {
                let steps = rollout(Some(serving), &target);
                self.rollout = Some(Rollout {
                    target,
                    steps,
                    taken: 0,
                    awaiting: None,
                    undoing: None,
                });
            }
            None => {
                // Nothing accepted yet: there is nothing to keep serving, so deliver the new
                // configuration as a whole.
                self.view = (*target).clone();
                for kind in ResourceType::ALL {
                    if self.subscriptions.contains_key(&kind) {
                        self.push(kind, out, false);
                    }
                }
            }
        }
    }

    fn on_ack(&mut self, kind: ResourceType, nonce: &str) {
        if let Some(rollout) = &mut self.rollout
            && rollout
                .awaiting
                .as_ref()
                .is_some_and(|(k, n, _)| *k == kind && n == nonce)
        {
            rollout.awaiting = None;
        }
    }

    fn on_nack(&mut self, kind: ResourceType, nonce: &str, detail: &str) {
        let serving = self.serving.clone();
        let Some(rollout) = &mut self.rollout else {
            // Refused outside a rollout (a first delivery): Envoy keeps what it had.
            self.refused = Some(self.target.version.clone());
            return;
        };
        if !rollout
            .awaiting
            .as_ref()
            .is_some_and(|(k, n, _)| *k == kind && n == nonce)
        {
            return;
        }
        rollout.awaiting = None;
        if rollout.undoing.is_some() {
            // An undo step refused: nothing better to do than carry on undoing.
            return;
        }
        let Some(serving) = serving else { return };
        // The refused step's type goes back too: its view changed before it was refused.
        let taken = (rollout.taken).min(rollout.steps.len());
        let back = undo(&serving, &rollout.steps[..taken]);
        rollout.steps = back;
        rollout.taken = 0;
        rollout.undoing = Some(detail.to_string());
    }

    /// Takes rollout steps until one needs an ACK or the rollout is done.
    fn drive(&mut self, out: &mut Output) {
        loop {
            let Some(rollout) = &mut self.rollout else {
                self.check_serving(out);
                return;
            };
            if rollout.awaiting.is_some() {
                return;
            }
            let Some(step) = rollout.steps.get(rollout.taken).cloned() else {
                self.finish(out);
                continue;
            };
            rollout.taken += 1;
            let kind = apply(&mut self.view, &step);
            if let Some(nonce) = self.push(kind, out, false)
                && let Some(rollout) = &mut self.rollout
            {
                let resource = step.resource().to_string();
                if rollout.undoing.is_none() {
                    out.events.push(Event::Delivered {
                        resource: resource.clone(),
                    });
                }
                rollout.awaiting = Some((kind, nonce, resource));
            }
        }
    }

    fn finish(&mut self, out: &mut Output) {
        let Some(rollout) = self.rollout.take() else {
            return;
        };
        match rollout.undoing {
            None => {
                self.view.version = rollout.target.version.clone();
                self.serving = Some(self.view.clone());
                out.events.push(Event::Serving {
                    version: rollout.target.version.clone(),
                });
            }
            Some(_) => {
                if let Some(serving) = &self.serving {
                    self.view = serving.clone();
                    out.events.push(Event::RolledBack {
                        refused: rollout.target.version.clone(),
                        serving: serving.version.clone(),
                    });
                }
                self.refused = Some(rollout.target.version.clone());
            }
        }
        if let Some(next) = self.queued.take() {
            self.start(next, out);
        }
    }

    /// Before the first acceptance: the proxy serves the view once it has subscribed to
    /// everything the view needs (clusters, listeners, and by name the filter configs and
    /// secrets the listeners use) and answered every last response with an ACK.
    fn check_serving(&mut self, out: &mut Output) {
        if self.serving.is_some() || self.refused.is_some() {
            return;
        }
        let (filters, secrets) = self.view.referenced_names();
        let filters: Vec<&String> = filters.iter().collect();
        let secrets: Vec<&String> = secrets.iter().collect();
        let has = |kind: ResourceType, names: &[&String]| match self.subscriptions.get(&kind) {
            Some(sub) => names.iter().all(|n| sub.names.contains(n)),
            None => !kind.is_wildcard() && names.is_empty(),
        };
        let complete = has(ResourceType::Cluster, &[])
            && has(ResourceType::Listener, &[])
            && has(ResourceType::ExtensionConfig, &filters)
            && has(ResourceType::Secret, &secrets);
        let all_acked = self
            .subscriptions
            .values()
            .all(|s| s.sent.as_ref().is_some_and(|sent| sent.answered));
        if complete && all_acked {
            self.serving = Some(self.view.clone());
            out.events.push(Event::Serving {
                version: self.view.version.clone(),
            });
        }
    }

    /// Sends the view's resources of `kind` when they differ from what was last sent (or
    /// always, for a request that must be answered). Returns the new nonce.
    fn push(&mut self, kind: ResourceType, out: &mut Output, answer: bool) -> Option<String> {
        let sub = self.subscriptions.get(&kind)?;
        let resources = resources_of(&self.view, kind, &sub.names);
        let unchanged = sub.sent.as_ref().is_some_and(|s| s.resources == resources);
        if unchanged && !answer {
            return None;
        }
        self.nonces += 1;
        let nonce = self.nonces.to_string();
        let version = version_of(&resources);
        let sub = self.subscriptions.get_mut(&kind)?;
        sub.sent = Some(Sent {
            nonce: nonce.clone(),
            resources: resources.clone(),
            answered: false,
        });
        out.responses.push(Response {
            kind,
            version,
            nonce: nonce.clone(),
            resources,
        });
        Some(nonce)
    }
}

/// Applies one rollout step to `view`; returns the step's resource type.
fn apply(view: &mut Snapshot, step: &Step) -> ResourceType {
    match step {
        Step::Secrets(secrets) => {
            view.secrets = secrets.clone();
            ResourceType::Secret
        }
        Step::Clusters(clusters) => {
            view.clusters = clusters.clone();
            ResourceType::Cluster
        }
        Step::FilterConfig(config) => {
            match view
                .filter_configs
                .iter_mut()
                .find(|f| f.name == config.name)
            {
                Some(existing) => *existing = config.clone(),
                None => view.filter_configs.push(config.clone()),
            }
            ResourceType::ExtensionConfig
        }
        Step::Listeners(listeners) => {
            view.listeners = listeners.clone();
            ResourceType::Listener
        }
    }
}

#[cfg(test)]
mod tests;
