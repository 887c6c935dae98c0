//! The egress section of the wire config (E-1, E-3): the allow-list and the audit settings.
//!
//! Audit settings are annotations on a selected egress Gateway (the first in merge order that
//! has any), so they stay Kubernetes resources and `compile` stays pure:
//! - `portcullis.dev/audit-sink`: `log` (default, Envoy's log) or `http://host[:port][/path]`
//!   (a collector reached through a DNS cluster, or a static one for an IP address);
//! - `portcullis.dev/audit-failure-mode`: `open` (default) or `closed`;
//! - `portcullis.dev/audit-include-query`: `true` to keep query strings;
//! - `portcullis.dev/audit-include-headers`: comma-separated request header names;
//! - `portcullis.dev/audit-redact-headers`: comma-separated header names whose values are
//!   redacted (default: authorization, cookie, proxy-authorization, set-cookie, x-api-key).
//!
//! A `GatewayFilter` of the workload sets the same settings (`CompileOptions::audit`); they
//! take precedence over the annotations, one setting at a time.

use std::collections::BTreeMap;

use portcullis_core::wire::{
    AllowedHost, Audit, AuditSink, Egress, FailureMode, HttpCollector, PortBinding,
};

use super::context::Ctx;
use super::servers::PortGroup;
use crate::istio::Gateway;
use crate::plan::{ClusterPlan, Discovery, Endpoint};

/// Annotation: where audit records go.
pub(super) const AUDIT_SINK: &str = "portcullis.dev/audit-sink";
/// Annotation: `open` or `closed`.
pub(super) const AUDIT_FAILURE_MODE: &str = "portcullis.dev/audit-failure-mode";
/// Annotation: keep query strings.
pub(super) const AUDIT_INCLUDE_QUERY: &str = "portcullis.dev/audit-include-query";
/// Annotation: headers copied into records.
pub(super) const AUDIT_INCLUDE_HEADERS: &str = "portcullis.dev/audit-include-headers";
/// Annotation: headers whose values are redacted.
pub(super) const AUDIT_REDACT_HEADERS: &str = "portcullis.dev/audit-redact-headers";

/// Annotation: how a denied HTTP request is answered (E-4): `not-found` (the default, what
/// Istio's egress gateway answers a host it has no route for: a bare 404) or `registry-only`
/// (Istio's REGISTRY_ONLY answer, 502, with a body and a header that say why).
pub(super) const EGRESS_DENY_ANSWER: &str = "portcullis.dev/egress-deny-answer";

/// How denied HTTP egress is answered (E-4).
#[derive(Clone, Copy, Debug)]
struct DenyAnswer {
    status: u16,
    explain: bool,
}

impl DenyAnswer {
    const NOT_FOUND: DenyAnswer = DenyAnswer {
        status: 404,
        explain: false,
    };
    const REGISTRY_ONLY: DenyAnswer = DenyAnswer {
        status: 502,
        explain: true,
    };
}

/// Builds the egress section for an egress gateway workload.
pub(super) fn build(
    ctx: &mut Ctx<'_>,
    ports: &[PortGroup<'_>],
    passthrough_ports: Vec<PortBinding>,
    overrides: &BTreeMap<String, String>,
) -> Egress {
    let mut allowed = Vec::new();
    for group in ports {
        for server in &group.servers {
            for h in &server.hosts {
                allowed.push(AllowedHost {
                    host: h.dns.clone(),
                    ports: vec![group.port],
                    rule: format!("Gateway {}", server.gateway_ref),
                });
            }
        }
    }
    let ns = ctx.identity.namespace.clone();
    for se in ctx.service_entries.clone() {
        if super::bind::visibility_group(se.spec.export_to.as_deref(), se.namespace(), &ns)
            .is_none()
        {
            continue;
        }
        let mut ports: Vec<u16> = se
            .spec
            .ports
            .iter()
            .filter_map(|p| u16::try_from(p.number).ok())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        for host in &se.spec.hosts {
            allowed.push(AllowedHost {
                host: host.to_ascii_lowercase(),
                ports: ports.clone(),
                rule: format!("ServiceEntry {}/{}", se.namespace(), se.name()),
            });
        }
    }
    allowed.sort_by(|a, b| (&a.host, &a.rule, &a.ports).cmp(&(&b.host, &b.rule, &b.ports)));
    allowed.dedup();
    let source = ctx
        .gateways
        .iter()
        .copied()
        .filter(|g| {
            ctx.selected_gateways
                .contains(&format!("{}/{}", g.namespace(), g.name()))
        })
        .find(|g| {
            g.metadata
                .annotations
                .keys()
                .any(|k| k.starts_with("portcullis.dev/audit-") || k == EGRESS_DENY_ANSWER)
        });
    let mut settings = source
        .map(|g| g.metadata.annotations.clone())
        .unwrap_or_default();
    settings.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (audit, deny) = audit_from(ctx, source, &settings);
    Egress {
        allowed_hosts: allowed,
        deny_status: deny.status,
        explain_denials: deny.explain,
        audit,
        passthrough_ports,
    }
}

/// The audit settings and the deny answer from `a` (the Gateway's annotations with the
/// workload's settings over them). Problems are reported on the Gateway, or as the workload's
/// settings without one.
fn audit_from(
    ctx: &mut Ctx<'_>,
    g: Option<&Gateway>,
    a: &BTreeMap<String, String>,
) -> (Audit, DenyAnswer) {
    let mut audit = Audit::default();
    let mut unattached = Vec::new();
    let no_locations = crate::diagnostics::FieldLocations::default();
    let mut r = match g {
        Some(g) => ctx.reporter(g),
        None => super::context::Reporter {
            reference: "GatewayFilter settings".into(),
            file: None,
            locations: &no_locations,
            out: &mut unattached,
        },
    };
    match a.get(AUDIT_FAILURE_MODE).map(String::as_str) {
        None | Some("open") => {}
        Some("closed") => audit.failure_mode = FailureMode::Closed,
        Some(other) => r.error(
            &format!("metadata.annotations.{AUDIT_FAILURE_MODE}"),
            format!("{other:?} is not open or closed; open used"),
            Some("E-5"),
        ),
    }
    let deny = match a.get(EGRESS_DENY_ANSWER).map(String::as_str) {
        None | Some("not-found") => DenyAnswer::NOT_FOUND,
        Some("registry-only") => DenyAnswer::REGISTRY_ONLY,
        Some(other) => {
            r.error(
                &format!("metadata.annotations.{EGRESS_DENY_ANSWER}"),
                format!("{other:?} is not not-found or registry-only; not-found used"),
                Some("E-4"),
            );
            DenyAnswer::NOT_FOUND
        }
    };
    audit.include_query = a.get(AUDIT_INCLUDE_QUERY).is_some_and(|v| v == "true");
    if let Some(list) = a.get(AUDIT_INCLUDE_HEADERS) {
        audit.include_headers = list
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
    }
    if let Some(list) = a.get(AUDIT_REDACT_HEADERS) {
        audit.redact_headers = list
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
    }
    let mut extra = None;
    match a.get(AUDIT_SINK).map(String::as_str) {
        None | Some("log") => {}
        Some(url) => match parse_http_url(url) {
            Some((host, port, path)) => {
                let cluster = format!("outbound|{port}||{host}");
                let ip = host.parse::<std::net::IpAddr>().is_ok();
                let endpoints = vec![Endpoint {
                    address: host.clone(),
                    port,
                }];
                extra = Some(ClusterPlan {
                    name: cluster.clone(),
                    discovery: if ip {
                        Discovery::Static(endpoints)
                    } else {
                        Discovery::Dns(endpoints)
                    },
                    http2: false,
                    tls: None,
                });
                let authority = if port == 80 {
                    host
                } else {
                    format!("{host}:{port}")
                };
                audit.sink = AuditSink::Http(HttpCollector {
                    cluster,
                    authority,
                    path,
                    batch_size: 100,
                    flush_interval_ms: 1000,
                    max_buffered: 10_000,
                    max_buffered_bytes: 16 * 1024 * 1024,
                    timeout_ms: 5000,
                    initial_backoff_ms: 500,
                    max_backoff_ms: 30_000,
                });
            }
            None => r.error(
                &format!("metadata.annotations.{AUDIT_SINK}"),
                format!(
                    "{url:?} is neither `log` nor an http:// URL; audit records go to the Envoy log"
                ),
                Some("E-5"),
            ),
        },
    }
    ctx.diagnostics.extend(unattached);
    ctx.extra_clusters.extend(extra);
    (audit, deny)
}

/// `http://host[:port][/path]` → (host, port, path).
fn parse_http_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/v1/audit".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 80),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), port, path))
}

#[cfg(test)]
mod tests {
    use super::parse_http_url;

    #[test]
    fn parses_collector_urls() {
        assert_eq!(
            parse_http_url("http://c.ns.svc.cluster.local:8080/x"),
            Some(("c.ns.svc.cluster.local".into(), 8080, "/x".into()))
        );
        assert_eq!(
            parse_http_url("http://127.0.0.1"),
            Some(("127.0.0.1".into(), 80, "/v1/audit".into()))
        );
        assert_eq!(parse_http_url("https://x"), None);
    }
}
