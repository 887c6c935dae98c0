//! The compilation context: resources in Istio order, lookups, collected clusters and
//! diagnostics.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::GatewayIdentity;
use super::hosts::{resolve_short_name, subset_of};
use crate::diagnostics::{Diagnostic, Effect, FieldLocations, Location};
use crate::istio::{
    DestinationRule, Gateway, Object, Resources, Secret, ServiceEntry, VirtualService,
};

/// A cluster some route, mirror or passthrough names, and who named it first.
#[derive(Clone, Debug)]
pub(super) struct ClusterRef {
    pub fqdn: String,
    pub port: u16,
    pub subset: String,
    pub referrer: String,
    pub file: Option<String>,
    pub field: String,
    /// Where `field` is in `file`.
    pub location: Option<Location>,
}

pub(super) struct Ctx<'r> {
    pub identity: &'r GatewayIdentity,
    /// Istio order (G-2): creation time, name, namespace.
    pub gateways: Vec<&'r Gateway>,
    /// Istio order (V-8).
    pub virtual_services: Vec<&'r VirtualService>,
    pub service_entries: Vec<&'r ServiceEntry>,
    pub destination_rules: Vec<&'r DestinationRule>,
    pub secrets: Vec<&'r Secret>,
    pub diagnostics: Vec<Diagnostic>,
    pub clusters: BTreeMap<String, ClusterRef>,
    /// Extra clusters that are not Istio destinations (audit collector).
    pub extra_clusters: Vec<crate::plan::ClusterPlan>,
    /// `ns/name` of the Gateways that select this workload (G-1).
    pub selected_gateways: BTreeSet<String>,
    /// VirtualServices (`Kind ns/name`) that produced at least one route or passthrough.
    pub used_virtual_services: BTreeSet<String>,
    /// VirtualServices by the Gateway (`ns/name`) they bind to and are visible from the
    /// gateway namespace: (V-8 visibility group, index in `virtual_services`), so finding a
    /// Gateway's VirtualServices does not scan them all for every server.
    bound: BTreeMap<String, Vec<(u8, usize)>>,
    /// Compiled rules per VirtualService, so each is validated (and reported) once.
    pub rule_cache: BTreeMap<String, std::rc::Rc<Vec<super::routes::CompiledRule>>>,
    /// Where the rules merged from delegates came from (V-25), when any were.
    pub delegation: Option<&'r super::delegate::Delegation>,
    /// The gateway's disk is this machine's ([`super::CompileOptions::local_files`]).
    pub local_files: bool,
}

/// Collects diagnostics about one resource, each located at the field it names (else at the
/// nearest enclosing field the YAML has, else at the resource).
pub(super) struct Reporter<'a> {
    pub reference: String,
    pub file: Option<&'a str>,
    pub locations: &'a FieldLocations,
    pub out: &'a mut Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    /// A reporter for diagnostics about `object`, collected in `out`.
    pub(super) fn for_object<S>(object: &'a Object<S>, out: &'a mut Vec<Diagnostic>) -> Self {
        Reporter {
            reference: object.reference(),
            file: object.file.as_deref(),
            locations: &object.locations,
            out,
        }
    }

    pub(super) fn error(
        &mut self,
        field: &str,
        message: impl Into<String>,
        rule: Option<&'static str>,
    ) {
        self.push(
            Diagnostic::error(self.reference.clone(), message),
            field,
            rule,
        );
    }

    /// An error that drops only the piece at `field` (a server, rule or destination Istio
    /// would accept but Portcullis cannot serve, or one that conflicts with another resource);
    /// the rest of the resource serves.
    pub(super) fn dropped(
        &mut self,
        field: &str,
        message: impl Into<String>,
        rule: Option<&'static str>,
    ) {
        self.push(
            Diagnostic::error(self.reference.clone(), message).effect(Effect::DropsPiece),
            field,
            rule,
        );
    }

    pub(super) fn warning(
        &mut self,
        field: &str,
        message: impl Into<String>,
        rule: Option<&'static str>,
    ) {
        self.push(
            Diagnostic::warning(self.reference.clone(), message),
            field,
            rule,
        );
    }

    pub(super) fn info(
        &mut self,
        field: &str,
        message: impl Into<String>,
        rule: Option<&'static str>,
    ) {
        self.push(
            Diagnostic::info(self.reference.clone(), message),
            field,
            rule,
        );
    }

    fn push(&mut self, mut d: Diagnostic, field: &str, rule: Option<&'static str>) {
        if !field.is_empty() {
            d = d.field(field);
        }
        d = d.file(self.file).at(self.locations.resolve(field));
        d.rule = rule;
        self.out.push(d);
    }
}

impl<'r> Ctx<'r> {
    pub(super) fn new(resources: &'r Resources, identity: &'r GatewayIdentity) -> Self {
        let mut diagnostics = Vec::new();
        let gateways = dedup(&resources.gateways, &mut diagnostics);
        let virtual_services = dedup(&resources.virtual_services, &mut diagnostics);
        let service_entries = dedup(&resources.service_entries, &mut diagnostics);
        let destination_rules = dedup(&resources.destination_rules, &mut diagnostics);
        let mut secrets: Vec<&Secret> = resources.secrets.iter().collect();
        secrets.sort_by(|a, b| {
            (a.metadata.namespace(), &a.metadata.name, &a.file).cmp(&(
                b.metadata.namespace(),
                &b.metadata.name,
                &b.file,
            ))
        });
        let mut bound: BTreeMap<String, Vec<(u8, usize)>> = BTreeMap::new();
        for (i, vs) in virtual_services.iter().enumerate() {
            let Some(group) = super::bind::visibility_group(
                vs.spec.export_to.as_deref(),
                vs.namespace(),
                &identity.namespace,
            ) else {
                continue;
            };
            let mut refs = super::bind::bound_gateways(vs).unwrap_or_default();
            refs.sort();
            refs.dedup();
            for gateway_ref in refs {
                bound.entry(gateway_ref).or_default().push((group, i));
            }
        }
        Ctx {
            identity,
            gateways,
            virtual_services,
            bound,
            service_entries,
            destination_rules,
            secrets,
            diagnostics,
            clusters: BTreeMap::new(),
            extra_clusters: Vec::new(),
            selected_gateways: BTreeSet::new(),
            used_virtual_services: BTreeSet::new(),
            rule_cache: BTreeMap::new(),
            delegation: None,
            local_files: false,
        }
    }

    pub(super) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// A reporter for diagnostics about `object`.
    pub(super) fn reporter<'a, S>(&'a mut self, object: &'a Object<S>) -> Reporter<'a> {
        Reporter::for_object(object, &mut self.diagnostics)
    }

    /// VirtualServices bound to Gateway `gateway_ref` (`ns/name`, V-1) and visible in the
    /// gateway pod's namespace (V-4), in V-8 order: private to that namespace, exported to it,
    /// public; each group in Istio order.
    pub(super) fn virtual_services_for(&self, gateway_ref: &str) -> Vec<&'r VirtualService> {
        let Some(bound) = self.bound.get(gateway_ref) else {
            return Vec::new();
        };
        let mut bound = bound.clone();
        bound.sort_unstable();
        bound
            .into_iter()
            .map(|(_, i)| self.virtual_services[i])
            .collect()
    }

    /// Registers the cluster `outbound|<port>|<subset>|<fqdn>` (V-18) and returns its name.
    pub(super) fn cluster(
        &mut self,
        fqdn: &str,
        port: u16,
        subset: &str,
        referrer: &Object<impl Sized>,
        field: &str,
    ) -> String {
        let name = format!("outbound|{port}|{subset}|{fqdn}");
        self.clusters
            .entry(name.clone())
            .or_insert_with(|| ClusterRef {
                fqdn: fqdn.to_string(),
                port,
                subset: subset.to_string(),
                referrer: referrer.reference(),
                file: referrer.file.clone(),
                field: field.to_string(),
                location: referrer.locate(field),
            });
        name
    }

    /// The ServiceEntry visible to the gateway that declares `fqdn` (exact host first, then
    /// the most specific wildcard).
    pub(super) fn service_entry(&self, fqdn: &str) -> Option<&'r ServiceEntry> {
        let ns = self.identity.namespace.as_str();
        let visible = || {
            self.service_entries.iter().copied().filter(move |se| {
                super::bind::visibility_group(se.spec.export_to.as_deref(), se.namespace(), ns)
                    .is_some()
            })
        };
        if let Some(se) =
            visible().find(|se| se.spec.hosts.iter().any(|h| h.eq_ignore_ascii_case(fqdn)))
        {
            return Some(se);
        }
        visible()
            .filter_map(|se| {
                se.spec
                    .hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .filter(|h| h.starts_with('*') && subset_of(fqdn, h))
                    .map(|h| h.len())
                    .max()
                    .map(|len| (len, se))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, se)| se)
    }

    /// The DestinationRule visible to the gateway for `fqdn` (exact host first, then the most
    /// specific wildcard).
    pub(super) fn destination_rule(&self, fqdn: &str) -> Option<&'r DestinationRule> {
        let ns = self.identity.namespace.as_str();
        let mut best: Option<(usize, &DestinationRule)> = None;
        for dr in self.destination_rules.iter().copied() {
            if super::bind::visibility_group(dr.spec.export_to.as_deref(), dr.namespace(), ns)
                .is_none()
            {
                continue;
            }
            let host = resolve_short_name(&dr.spec.host, dr.namespace());
            let score = if host == fqdn {
                usize::MAX
            } else if host.starts_with('*') && subset_of(fqdn, &host) {
                host.len()
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, dr));
            }
        }
        best.map(|(_, dr)| dr)
    }

    /// Secret `namespace/name`.
    pub(super) fn secret(&self, namespace: &str, name: &str) -> Option<&'r Secret> {
        self.secrets
            .iter()
            .copied()
            .find(|s| s.metadata.namespace() == namespace && s.metadata.name == name)
    }
}

/// Sorts objects in Istio order and drops later duplicates of one `Kind ns/name` with an error:
/// the API server would hold only one of them.
fn dedup<'r, S: Serialize>(
    objects: &'r [Object<S>],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<&'r Object<S>> {
    let mut sorted: Vec<&Object<S>> = objects.iter().collect();
    // The tie-breaks (file, then content) only make duplicate handling independent of input order.
    sorted.sort_by_cached_key(|o| {
        let (ts, name, ns) = o.istio_order_key();
        (
            ts.to_string(),
            name.to_string(),
            ns.to_string(),
            o.file.clone(),
            serde_json::to_string(&o.spec).unwrap_or_default(),
        )
    });
    let mut seen = BTreeSet::new();
    sorted.retain(|o| {
        let first = seen.insert((o.namespace().to_string(), o.name().to_string()));
        if !first {
            diagnostics.push(
                Diagnostic::error(
                    o.reference(),
                    "defined more than once; this copy is ignored",
                )
                .effect(Effect::DropsPiece)
                .file(o.file.as_deref())
                .at(o.locate("")),
            );
        }
        first
    });
    sorted
}
