//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go does it: one active
//! replica writes (status, events, distributed objects) and serves proxies; a standby keeps
//! its watches warm and takes over when the holder stops renewing.
//!
//! [`evaluate`] is the whole policy, pure; [`run`] only reads and writes the Lease. Writes
//! carry the `resourceVersion` read, so two candidates cannot both win a round: the loser gets
//! a conflict and reads again. A leader that cannot renew before its lease expires steps down
//! (fail-stop: the process exits, as kube-controller-manager does, so nothing acts on a stale
//! belief that it still leads).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

/// What a candidate does with the Lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder's term ran out: take it.
    Acquire,
    /// It is ours: renew it.
    Renew,
    /// Someone else holds it until `until`.
    Follow {
        /// The holder.
        holder: String,
        /// When its term ends, unless renewed.
        until: Timestamp,
    },
}

/// The policy: `me` takes a Lease that is free or expired, renews its own, and follows a live
/// holder.
pub fn evaluate(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == me {
        return Decision::Renew;
    }
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    let term = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    match renewed.and_then(|r| r.checked_add(term).ok()) {
        Some(until) if until > now => Decision::Follow {
            holder: holder.to_string(),
            until,
        },
        _ => Decision::Acquire,
    }
}

/// The Lease spec `me` writes for `decision` (none when following).
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    me: &str,
    now: Timestamp,
    term: Duration,
) -> Option<LeaseSpec> {
    let seconds = i32::try_from(term.as_secs()).unwrap_or(i32::MAX);
    match decision {
        Decision::Follow { .. } => None,
        Decision::Renew => {
            let mut spec = current.cloned().unwrap_or_default();
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds);
            Some(spec)
        }
        Decision::Acquire => {
            let transitions = current.and_then(|c| c.lease_transitions).unwrap_or(0);
            let was_held = current
                .and_then(|c| c.holder_identity.as_deref())
                .is_some_and(|h| !h.is_empty());
            Some(LeaseSpec {
                holder_identity: Some(me.to_string()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_duration_seconds: Some(seconds),
                lease_transitions: Some(if was_held {
                    transitions.saturating_add(1)
                } else {
                    transitions
                }),
                ..LeaseSpec::default()
            })
        }
    }
}

/// Where the Lease lives and how long a term lasts.
#[derive(Clone, Debug)]
pub struct Election {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica (its pod name).
    pub identity: String,
    /// How long a term lasts without renewal.
    pub term: Duration,
    /// How often the leader renews (and a follower retries).
    pub retry: Duration,
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The leader could not renew in time.
    #[error("lost the lease {0}: could not renew it before it expired")]
    Lost(String),
}

/// Runs the election; `leading` is true while this replica holds the Lease. Returns only when
/// leadership is lost (the caller exits).
pub async fn run(
    api: Api<Lease>,
    election: Election,
    leading: watch::Sender<bool>,
) -> Result<(), LeaderError> {
    let mut held_until: Option<Timestamp> = None;
    loop {
        let now = Timestamp::now();
        match round(&api, &election, now).await {
            Ok(true) => {
                held_until = now
                    .checked_add(SignedDuration::try_from(election.term).unwrap_or_default())
                    .ok();
                if !*leading.borrow() {
                    tracing::info!(lease = %election.name, identity = %election.identity, "leading");
                }
                leading.send_replace(true);
            }
            Ok(false) => {
                if *leading.borrow() {
                    return Err(LeaderError::Lost(election.name.clone()));
                }
            }
            Err(e) => {
                tracing::warn!(lease = %election.name, error = %e, "lease round failed");
                if let Some(until) = held_until
                    && Timestamp::now() >= until
                {
                    leading.send_replace(false);
                    return Err(LeaderError::Lost(election.name.clone()));
                }
            }
        }
        tokio::time::sleep(election.retry).await;
    }
}

/// One read-decide-write round: whether this replica holds the Lease afterwards.
async fn round(api: &Api<Lease>, election: &Election, now: Timestamp) -> Result<bool, kube::Error> {
    let current = api.get_opt(&election.name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.as_ref());
    let decision = evaluate(spec, &election.identity, now);
    let Some(next) = next_spec(spec, &decision, &election.identity, now, election.term) else {
        return Ok(false);
    };
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(election.name.clone()),
                    namespace: Some(election.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Some(mut lease) => {
            // `replace` sends the resourceVersion read: a concurrent writer makes it a 409.
            lease.spec = Some(next);
            api.replace(&election.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
