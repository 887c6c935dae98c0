//! Upstream clusters (V-18, E-1): ServiceEntry endpoints, DestinationRule subsets and TLS.
//!
//! A destination that the registry cannot resolve still keeps its route (Istio answers 503 NC
//! at runtime); it just gets no cluster here, and a warning says why.

use super::context::{ClusterRef, Ctx};
use crate::diagnostics::Diagnostic;
use crate::istio::{ConnectionPool, DestinationRule, ServiceEntry, Subset};
use crate::plan::{ClusterPlan, Discovery, Endpoint, UpstreamTlsPlan};

mod policy;
mod upstream_tls;

/// Every cluster named by a route, mirror, passthrough or the audit sink, sorted by name.
pub(super) fn build(ctx: &mut Ctx<'_>) -> Vec<ClusterPlan> {
    let refs: Vec<(String, ClusterRef)> = ctx
        .clusters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out: Vec<ClusterPlan> = Vec::new();
    for (name, r) in refs {
        match resolve(ctx, &name, &r) {
            Ok(plan) => out.push(plan),
            // An upstream TLS setting that cannot be honoured was reported as an error on the
            // DestinationRule: no cluster, never a plain-text one (S-7).
            Err(Unresolved::Reported) => {}
            Err(Unresolved::Warn(message)) => ctx.push(
                Diagnostic::warning(
                    r.referrer.clone(),
                    format!("{message}: requests to {name} will fail with 503 (no cluster)"),
                )
                .field(r.field.clone())
                .file(r.file.as_deref())
                .at(r.location)
                .rule("V-18"),
            ),
        }
    }
    out.extend(ctx.extra_clusters.iter().cloned());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Why a referenced cluster is not built.
enum Unresolved {
    /// Not in the registry (and the like): a warning with this message.
    Warn(String),
    /// Already reported as an error.
    Reported,
}

impl From<String> for Unresolved {
    fn from(message: String) -> Self {
        Unresolved::Warn(message)
    }
}

fn resolve(ctx: &mut Ctx<'_>, name: &str, r: &ClusterRef) -> Result<ClusterPlan, Unresolved> {
    let dr = ctx.destination_rule(&r.fqdn);
    let subset = if r.subset.is_empty() {
        None
    } else {
        let Some(dr) = dr else {
            return Err(format!(
                "subset {:?} of {} is not defined (no DestinationRule)",
                r.subset, r.fqdn
            )
            .into());
        };
        match dr.spec.subsets.iter().find(|s| s.name == r.subset) {
            Some(s) => Some(s),
            None => {
                return Err(
                    format!("subset {:?} is not defined by {}", r.subset, dr.reference()).into(),
                );
            }
        }
    };
    let se = ctx.service_entry(&r.fqdn);
    let upgrade = dr.and_then(|dr| h2_upgrade(ctx, dr, subset, r.port));
    let tls = match dr {
        Some(dr) => upstream_tls::plan(ctx, dr, subset, se, r).map_err(|_| Unresolved::Reported)?,
        None => None,
    };
    if let Some(se) = se {
        let mut plan = from_service_entry(ctx, se, subset, r, name, tls)?;
        // An HTTP2 or GRPC port always speaks HTTP/2; `UPGRADE` adds HTTP/1.1 ports.
        plan.http2 |= upgrade == Some(true);
        return Ok(plan);
    }
    if r.fqdn.ends_with(".svc.cluster.local") {
        if subset.is_some_and(|s| !s.labels.is_empty()) {
            ctx.push(
                Diagnostic::warning(r.referrer.clone(), format!("subset {:?} selects pods by label, which local mode cannot see: every endpoint of {} is used", r.subset, r.fqdn))
                    .field(r.field.clone())
                    .file(r.file.as_deref())
                    .at(r.location),
            );
        }
        return Ok(ClusterPlan {
            name: name.to_string(),
            discovery: Discovery::Dns(vec![Endpoint {
                address: r.fqdn.clone(),
                port: r.port,
            }]),
            http2: upgrade == Some(true),
            tls,
        });
    }
    Err(format!(
        "{} is not in the service registry (no ServiceEntry visible to the gateway, not a Kubernetes service name)",
        r.fqdn
    )
    .into())
}

fn from_service_entry(
    ctx: &mut Ctx<'_>,
    se: &ServiceEntry,
    subset: Option<&Subset>,
    r: &ClusterRef,
    name: &str,
    tls: Option<UpstreamTlsPlan>,
) -> Result<ClusterPlan, String> {
    let Some(port) = se.spec.ports.iter().find(|p| p.number == u32::from(r.port)) else {
        return Err(format!(
            "{} does not declare port {}",
            se.reference(),
            r.port
        ));
    };
    let http2 = matches!(
        port.protocol.to_ascii_uppercase().as_str(),
        "GRPC" | "HTTP2"
    );
    let target = port
        .target_port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(r.port);
    let endpoints: Vec<Endpoint> = se
        .spec
        .endpoints
        .iter()
        .filter(|e| subset.is_none_or(|s| s.labels.iter().all(|(k, v)| e.labels.get(k) == Some(v))))
        .map(|e| Endpoint {
            address: e.address.clone(),
            port: e
                .ports
                .get(&port.name)
                .and_then(|p| u16::try_from(*p).ok())
                .unwrap_or(target),
        })
        .collect();
    let resolution = se
        .spec
        .resolution
        .clone()
        .unwrap_or_else(|| "NONE".into())
        .to_ascii_uppercase();
    let discovery = match resolution.as_str() {
        "STATIC" => {
            if endpoints.is_empty() {
                ctx.reporter(se).warning(
                    "spec.endpoints",
                    format!("no endpoint for cluster {name} (check endpoints and subset labels): requests get 503"),
                    Some("E-1"),
                );
            }
            Discovery::Static(endpoints)
        }
        "DNS" | "DNS_ROUND_ROBIN" if !se.spec.endpoints.is_empty() => Discovery::Dns(endpoints),
        "DNS" | "DNS_ROUND_ROBIN" if r.fqdn.starts_with('*') => {
            return Err(format!(
                "{} resolves a wildcard host by DNS",
                se.reference()
            ));
        }
        "DNS" | "DNS_ROUND_ROBIN" => Discovery::Dns(vec![Endpoint {
            address: r.fqdn.clone(),
            port: target,
        }]),
        _ => {
            ctx.reporter(se).warning(
                "spec.resolution",
                "resolution NONE forwards to the original destination, which at a gateway is the gateway itself; the cluster has no endpoint (use DNS or STATIC)",
                Some("E-1"),
            );
            Discovery::Static(Vec::new())
        }
    };
    Ok(ClusterPlan {
        name: name.to_string(),
        discovery,
        http2,
        tls,
    })
}

/// `connectionPool.http.h2UpgradePolicy` in force for the cluster (Istio's merge order):
/// `Some(true)` for `UPGRADE`, `Some(false)` for `DO_NOT_UPGRADE`, `None` for `DEFAULT` (the
/// mesh default, which does not upgrade) or nothing set. An unknown value is ignored with a
/// warning.
fn h2_upgrade(
    ctx: &mut Ctx<'_>,
    dr: &DestinationRule,
    subset: Option<&Subset>,
    port: u16,
) -> Option<bool> {
    fn pool(p: &Option<ConnectionPool>) -> Option<&String> {
        p.as_ref()
            .and_then(|c| c.http.as_ref())
            .and_then(|h| h.h2_upgrade_policy.as_ref())
    }
    let (policy, field) = policy::in_force(
        dr,
        subset,
        port,
        "connectionPool.http.h2UpgradePolicy",
        |p| pool(&p.connection_pool),
        |s| pool(&s.connection_pool),
    )?;
    match policy.as_str() {
        "UPGRADE" => Some(true),
        "DO_NOT_UPGRADE" => Some(false),
        "DEFAULT" => None,
        other => {
            ctx.reporter(dr).warning(
                &field,
                format!("unknown h2UpgradePolicy {other:?} (DEFAULT, DO_NOT_UPGRADE or UPGRADE); ignored"),
                Some("E-1"),
            );
            None
        }
    }
}
