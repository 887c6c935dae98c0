//! A GatewayFilter's status, as a pure function of what the controller knows: the compile
//! result for its workload, the proxies connected to the xDS server, and the previous status
//! (a condition keeps its `lastTransitionTime` until its status changes).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use portcullis_compile::diagnostics::{Diagnostic, Severity};
use portcullis_xds::{Compiled, ProxyStatus};

use crate::crd::{GatewayFilter, GatewayFilterStatus, IgnoredResource};

/// Condition types.
pub const ACCEPTED: &str = "Accepted";
/// The workload's proxies run the compiled configuration.
pub const PROGRAMMED: &str = "Programmed";
/// Something is left out, refused or stale.
pub const DEGRADED: &str = "Degraded";

/// One connected proxy of the workload, with the configuration it should run.
#[derive(Clone, Debug)]
pub struct WorkloadProxy {
    /// What the xDS server reports.
    pub status: ProxyStatus,
    /// The content hash compiled for it (`None` when its resources do not compile).
    pub expected: Option<String>,
}

/// What the status is computed from.
#[derive(Debug)]
pub struct Observed<'a> {
    /// The resource.
    pub filter: &'a GatewayFilter,
    /// An older GatewayFilter selecting the same workload, which applies instead.
    pub conflicts_with: Option<String>,
    /// The compile result for its workload.
    pub compiled: &'a Compiled,
    /// Objects that could not be read at all.
    pub unreadable: &'a [Diagnostic],
    /// The workload's connected proxies.
    pub proxies: &'a [WorkloadProxy],
    /// For distributions other than xDS: the objects written for the current configuration,
    /// or why they could not be.
    pub distributed: Option<Result<Vec<String>, String>>,
    /// Now, for conditions that change.
    pub now: Time,
}

/// The status for `observed`.
pub fn status(observed: &Observed<'_>) -> GatewayFilterStatus {
    let filter = observed.filter;
    let generation = filter.metadata.generation;
    let previous = filter
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let compiled = observed.compiled;
    let hash = compiled.snapshot.as_ref().map(|s| s.version.clone());

    let connected = observed.proxies.len();
    let programmed = observed
        .proxies
        .iter()
        .filter(|p| {
            p.expected
                .as_deref()
                .is_some_and(|version| p.status.synced_to(version))
        })
        .count();
    let refusals: Vec<&ProxyStatus> = observed
        .proxies
        .iter()
        .filter(|p| {
            p.status
                .last_nack
                .as_ref()
                .is_some_and(|n| Some(&n.version) == p.expected.as_ref())
        })
        .map(|p| &p.status)
        .collect();

    let ignored: Vec<IgnoredResource> = observed
        .unreadable
        .iter()
        .chain(&compiled.diagnostics)
        .filter(|d| d.severity != Severity::Info)
        .map(|d| IgnoredResource {
            resource: d.resource.clone(),
            field: d.field.clone(),
            severity: format!("{:?}", d.severity),
            message: d.message.clone(),
        })
        .collect();
    let errors = ignored.iter().filter(|i| i.severity == "Error").count();

    let accepted = if let Some(older) = &observed.conflicts_with {
        (
            false,
            "Conflicted",
            format!("GatewayFilter {older} selects the same workload and applies instead"),
        )
    } else if let Some(error) = &compiled.error {
        (false, "Invalid", error.clone())
    } else {
        (
            true,
            "Accepted",
            "the resources for this workload compile".to_string(),
        )
    };
    let programmed_condition = if !accepted.0 {
        (
            false,
            "Invalid",
            "nothing new to program: the proxies keep their last good configuration".to_string(),
        )
    } else if let Some(distributed) = &observed.distributed {
        match distributed {
            Ok(names) => (
                true,
                "Applied",
                format!(
                    "{} applied for this configuration ({})",
                    names.join(", "),
                    crate::distribute::distributor(filter.spec.distribution).applied_note()
                ),
            ),
            Err(why) => (false, "NotApplied", why.clone()),
        }
    } else if connected == 0 {
        (
            false,
            "Pending",
            "no proxy of this workload is connected".to_string(),
        )
    } else if let Some(refusal) = refusals.first() {
        let detail = refusal
            .last_nack
            .as_ref()
            .map(|n| n.detail.clone())
            .unwrap_or_default();
        (
            false,
            "Refused",
            format!(
                "proxy {} refused the configuration: {detail}",
                refusal.node_id
            ),
        )
    } else if programmed == connected {
        (
            true,
            "Programmed",
            format!("{programmed} of {connected} proxies run this configuration"),
        )
    } else {
        (
            false,
            "Pending",
            format!("{programmed} of {connected} proxies run this configuration"),
        )
    };
    let degraded = if !refusals.is_empty() {
        (
            true,
            "ProxyRefused",
            format!("{} proxies refused the configuration", refusals.len()),
        )
    } else if errors > 0 {
        (
            true,
            "ResourcesInvalid",
            format!("{errors} error(s); see status.ignored"),
        )
    } else if !ignored.is_empty() {
        (
            true,
            "Warnings",
            format!("{} warning(s); see status.ignored", ignored.len()),
        )
    } else {
        (false, "AsExpected", "nothing is left out".to_string())
    };

    let conditions = [
        (ACCEPTED, accepted),
        (PROGRAMMED, programmed_condition),
        (DEGRADED, degraded),
    ]
    .into_iter()
    .map(|(type_, (ok, reason, message))| {
        condition(
            previous,
            type_,
            ok,
            reason,
            message,
            generation,
            &observed.now,
        )
    })
    .collect();

    GatewayFilterStatus {
        observed_generation: generation,
        conditions,
        workload: Some(workload_name(filter)),
        compiled_hash: hash,
        hosts: u32::try_from(compiled.counts.hosts).unwrap_or(u32::MAX),
        routes: u32::try_from(compiled.counts.routes).unwrap_or(u32::MAX),
        proxies: observed
            .distributed
            .is_none()
            .then(|| format!("{programmed}/{connected}")),
        programmed_proxies: u32::try_from(programmed).unwrap_or(u32::MAX),
        connected_proxies: u32::try_from(connected).unwrap_or(u32::MAX),
        ignored,
    }
}

/// `namespace/k=v,...`.
pub fn workload_name(filter: &GatewayFilter) -> String {
    let labels: Vec<String> = filter
        .spec
        .selector
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{}/{}",
        filter.metadata.namespace.as_deref().unwrap_or_default(),
        labels.join(",")
    )
}

fn condition(
    previous: &[Condition],
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}
