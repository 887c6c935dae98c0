//! The GatewayFilter reconciler: computes each GatewayFilter's status from the published
//! inputs, the xDS server's compile result and its proxies' ACKs, and writes it only when it
//! changed (server-side apply, one field manager). Kubernetes Events mark transitions on the
//! GatewayFilter, and errors on the Istio resources that caused them.
//!
//! Reconcile reads only the stores and the in-process xDS server: the one API call it makes
//! is the status write (and events).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use portcullis_compile::compile::GatewayIdentity;
use portcullis_compile::diagnostics::Severity;
use portcullis_xds::{Compiled, XdsServer};
use tokio::sync::watch;

use crate::crd::{GatewayFilter, GatewayFilterStatus};
use crate::distribute::{self, Applier, Environment};
use crate::inputs::{ordered, settings};
use crate::metrics::{FailureLabels, FilterLabels, Metrics};
use crate::publish::Publication;
use crate::status::{self, ACCEPTED, Observed, PROGRAMMED, WorkloadProxy};
use crate::watch::Changes;

/// The field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "portcullis-controller";

/// What reconcile needs.
pub struct Context {
    /// Status writes.
    pub client: kube::Client,
    /// Compile results and proxy status.
    pub server: XdsServer,
    /// The last publication.
    pub published: watch::Receiver<Arc<Publication>>,
    /// Events.
    pub recorder: Recorder,
    /// The GatewayFilters (the Controller's store).
    pub filters: Store<GatewayFilter>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Tells the publisher a GatewayFilter changed.
    pub changes: Changes,
    /// What distributions other than xDS render with.
    pub environment: Environment,
    /// Writes those distributions' objects.
    pub applier: Applier,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status could not be written.
    #[error("writing the status of GatewayFilter {name}: {source}")]
    StatusWrite {
        /// `namespace/name`.
        name: String,
        /// The API's answer.
        source: kube::Error,
    },
    /// A distributed object could not be written.
    #[error("distributing GatewayFilter {name}: {source}")]
    Distribute {
        /// `namespace/name`.
        name: String,
        /// The API's answer.
        source: kube::Error,
    },
}

impl Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::StatusWrite { .. } => "status_write",
            Error::Distribute { .. } => "distribute",
        }
    }
}

/// The workload a GatewayFilter selects, as the compile step names gateways.
pub fn identity(filter: &GatewayFilter) -> GatewayIdentity {
    GatewayIdentity {
        labels: filter.spec.selector.match_labels.clone(),
        namespace: filter.namespace().unwrap_or_default(),
    }
}

/// The status `filter` should have now, given the configuration compiled for its workload
/// and what was distributed for it (distributions other than xDS).
pub async fn desired_status(
    filter: &GatewayFilter,
    ctx: &Context,
    compiled: &Compiled,
    distributed: Option<Result<Vec<String>, String>>,
) -> GatewayFilterStatus {
    let publication = Arc::clone(&ctx.published.borrow());
    let me = identity(filter);
    let filters = ctx.filters.state();
    let conflicts_with = ordered(&filters)
        .into_iter()
        .take_while(|other| other.uid() != filter.uid())
        .find(|other| settings(other).selects(&me))
        .map(|other| {
            format!(
                "{}/{}",
                other.namespace().unwrap_or_default(),
                other.name_any()
            )
        });
    let mine = settings(filter);
    let mut proxies = Vec::new();
    for proxy in ctx.server.status() {
        let identity = GatewayIdentity {
            labels: proxy.labels.clone(),
            namespace: proxy.namespace.clone(),
        };
        if !mine.selects(&identity) {
            continue;
        }
        let expected = ctx
            .server
            .compiled(&identity)
            .await
            .snapshot
            .as_ref()
            .map(|s| s.version.clone());
        proxies.push(WorkloadProxy {
            status: proxy,
            expected,
        });
    }
    status::status(&Observed {
        filter,
        conflicts_with,
        compiled,
        unreadable: &publication.unreadable,
        proxies: &proxies,
        distributed,
        now: Time(Timestamp::now()),
    })
}

/// Writes the objects of the filter's distribution (none for xDS); what was written, or why
/// nothing could be, for the status.
async fn distribute(
    filter: &GatewayFilter,
    compiled: &Compiled,
    ctx: &Context,
) -> Result<Option<Result<Vec<String>, String>>, Error> {
    if filter.spec.distribution == crate::crd::Distribution::Xds {
        return Ok(None);
    }
    let failed = |source| Error::Distribute {
        name: format!(
            "{}/{}",
            filter.namespace().unwrap_or_default(),
            filter.name_any()
        ),
        source,
    };
    let distributor = distribute::distributor(filter.spec.distribution);
    let previous = match distributor.previous(filter) {
        Some(object) => distribute::read(
            &ctx.client,
            &filter.namespace().unwrap_or_default(),
            &object,
        )
        .await
        .map_err(failed)?,
        None => None,
    };
    let objects = match distributor.objects(filter, compiled, &ctx.environment, previous.as_ref()) {
        Ok(objects) => objects,
        Err(why) => return Ok(Some(Err(why.to_string()))),
    };
    ctx.applier
        .apply(&ctx.client, &objects)
        .await
        .map_err(failed)?;
    Ok(Some(Ok(objects
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect())))
}

/// Reconciles one GatewayFilter.
pub async fn reconcile(filter: Arc<GatewayFilter>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    // Until the publisher has published this filter's settings, its status would describe
    // the previous ones; the publication re-triggers every reconcile.
    let published = ctx
        .published
        .borrow()
        .workloads
        .contains(&settings(&filter));
    if !published {
        ctx.changes.bump();
        return Ok(Action::await_change());
    }
    let compiled = ctx.server.compiled(&identity(&filter)).await;
    let distributed = distribute(&filter, &compiled, &ctx).await?;
    let desired = desired_status(&filter, &ctx, &compiled, distributed).await;
    record_metrics(&filter, &desired, &compiled, &ctx.metrics);
    if filter.status.as_ref() == Some(&desired) {
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    publish_events(&filter, filter.status.as_ref(), &desired, &ctx).await;
    write_status(&filter, &desired, &ctx).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Failed reconciles are retried with a short delay (the status write is idempotent).
pub fn error_policy(_filter: Arc<GatewayFilter>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "reconcile failed");
    ctx.metrics
        .failures
        .get_or_create(&FailureLabels {
            reason: error.reason().to_string(),
        })
        .inc();
    Action::requeue(Duration::from_secs(2))
}

/// The server-side-apply patch of a GatewayFilter's status.
pub fn status_patch(status: &GatewayFilterStatus) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": GatewayFilter::api_version(&()),
        "kind": GatewayFilter::kind(&()),
        "status": status,
    })
}

async fn write_status(
    filter: &GatewayFilter,
    status: &GatewayFilterStatus,
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = filter.namespace().unwrap_or_default();
    let api: Api<GatewayFilter> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(
        &filter.name_any(),
        &params,
        &Patch::Apply(status_patch(status)),
    )
    .await
    .map_err(|source| Error::StatusWrite {
        name: format!("{namespace}/{}", filter.name_any()),
        source,
    })?;
    ctx.metrics.status_writes.inc();
    Ok(())
}

fn record_metrics(
    filter: &GatewayFilter,
    status: &GatewayFilterStatus,
    compiled: &Compiled,
    metrics: &Metrics,
) {
    let labels = FilterLabels {
        namespace: filter.namespace().unwrap_or_default(),
        name: filter.name_any(),
    };
    metrics
        .config_bytes
        .get_or_create(&labels)
        .set(i64::try_from(compiled.counts.config_bytes).unwrap_or(i64::MAX));
    metrics
        .hosts
        .get_or_create(&labels)
        .set(i64::from(status.hosts));
    metrics
        .routes
        .get_or_create(&labels)
        .set(i64::from(status.routes));
    metrics
        .programmed_proxies
        .get_or_create(&labels)
        .set(i64::from(status.programmed_proxies));
    metrics
        .connected_proxies
        .get_or_create(&labels)
        .set(i64::from(status.connected_proxies));
    metrics
        .ignored
        .get_or_create(&labels)
        .set(i64::try_from(status.ignored.len()).unwrap_or(i64::MAX));
}

/// Events for what changed: a condition turning, and each newly reported error, on the Istio
/// resource it is about (so `kubectl describe virtualservice` shows it).
async fn publish_events(
    filter: &GatewayFilter,
    before: Option<&GatewayFilterStatus>,
    after: &GatewayFilterStatus,
    ctx: &Context,
) {
    let reference = filter.object_ref(&());
    for event in condition_events(before, after) {
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, "publishing an event failed");
        }
    }
    let known: BTreeSet<(&str, &str)> = before
        .map(|b| {
            b.ignored
                .iter()
                .map(|i| (i.resource.as_str(), i.message.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for ignored in &after.ignored {
        if known.contains(&(ignored.resource.as_str(), ignored.message.as_str()))
            || ignored.severity != format!("{:?}", Severity::Error)
        {
            continue;
        }
        let Some(target) = istio_reference(&ignored.resource) else {
            continue;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: "Rejected".to_string(),
            note: Some(truncate(&format!(
                "not served by GatewayFilter {}/{}: {}{}",
                filter.namespace().unwrap_or_default(),
                filter.name_any(),
                ignored
                    .field
                    .as_ref()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default(),
                ignored.message
            ))),
            action: "Compile".to_string(),
            secondary: Some(reference.clone()),
        };
        if let Err(e) = ctx.recorder.publish(&event, &target).await {
            tracing::warn!(error = %e, "publishing an event failed");
        }
    }
}

/// The events for conditions that changed status or reason.
pub fn condition_events(
    before: Option<&GatewayFilterStatus>,
    after: &GatewayFilterStatus,
) -> Vec<Event> {
    let mut events = Vec::new();
    for condition in &after.conditions {
        let previous =
            before.and_then(|b| b.conditions.iter().find(|c| c.type_ == condition.type_));
        if previous.is_some_and(|p| p.status == condition.status && p.reason == condition.reason) {
            continue;
        }
        let good = match condition.type_.as_str() {
            ACCEPTED | PROGRAMMED => condition.status == "True",
            _ => condition.status == "False",
        };
        // A first "not degraded" says nothing a reader needs.
        if previous.is_none()
            && good
            && condition.type_ != ACCEPTED
            && condition.type_ != PROGRAMMED
        {
            continue;
        }
        events.push(Event {
            type_: if good {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: condition.reason.clone(),
            note: Some(truncate(&condition.message)),
            action: condition.type_.clone(),
            secondary: None,
        });
    }
    events
}

/// `VirtualService ns/name` (a diagnostic's resource) as an object reference.
pub fn istio_reference(resource: &str) -> Option<ObjectReference> {
    let (kind, rest) = resource.split_once(' ')?;
    let (namespace, name) = rest.split_once('/')?;
    if !crate::inputs::ISTIO_KINDS.contains(&kind) {
        return None;
    }
    Some(ObjectReference {
        api_version: Some("networking.istio.io/v1".to_string()),
        kind: Some(kind.to_string()),
        namespace: Some(namespace.to_string()),
        name: Some(name.to_string()),
        ..ObjectReference::default()
    })
}

/// Event notes are limited to 1 KiB by the API.
fn truncate(note: &str) -> String {
    const LIMIT: usize = 1024;
    if note.len() <= LIMIT {
        return note.to_string();
    }
    let mut end = LIMIT - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}
