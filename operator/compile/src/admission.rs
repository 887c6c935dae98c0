//! Admission: which version of each resource is served, as Istio decides it.
//!
//! Istio validates a resource when it is applied and refuses an invalid one as a whole, so the
//! version stored before keeps serving; a valid resource is served as far as it can be, each
//! piece istiod cannot use skipped. [`Admission`] gives `up` and the xDS server the same
//! outcome without a webhook in front of them: it compiles what it was given, and for every
//! resource with an error that refuses it ([`Effect::RefusesResource`]) it puts back the version
//! it accepted before (or leaves the resource out when there is none) and compiles again.
//! Errors that drop a piece ([`Effect::DropsPiece`]) stay what they are: the rest serves.
//!
//! One `Admission` is kept per gateway workload, for as long as the process serves it; it
//! remembers the last accepted version of every resource, nothing else.

use std::collections::{BTreeMap, BTreeSet};

use crate::compile::{CompileOptions, CompileOutput, GatewayIdentity, compile};
use crate::diagnostics::{Diagnostic, Effect, keeps_last_good};
use crate::istio::{Object, Resources, Secret};

/// How many times a compile may uncover a further refused resource before admission stops
/// looking. Validation is per resource, so the first compile finds them all; the bound only
/// keeps a context-dependent error from looping.
const MAX_ROUNDS: usize = 4;

/// The last accepted version of each resource, for one gateway workload.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    accepted: Resources,
}

impl Admission {
    /// Compiles `resources` for `gateway`: each refused resource is replaced by its last
    /// accepted version, and the output's diagnostics say which.
    ///
    /// `read` are the diagnostics of reading the resources: a resource they refuse (one the
    /// loader could not type) is held back like one the compiler refuses. They are not copied
    /// into the output; the caller reports them where it reports reading. The versions served
    /// become the accepted ones unless `read` or the output keeps the last good configuration
    /// (see [`keeps_last_good`]), in which case nothing is remembered.
    pub fn compile(
        &mut self,
        resources: &Resources,
        read: &[Diagnostic],
        gateway: &GatewayIdentity,
        options: &CompileOptions,
    ) -> CompileOutput {
        let mut reasons: Vec<Diagnostic> = Vec::new();
        let mut refused: BTreeSet<String> = read
            .iter()
            .filter(|d| d.effect == Some(Effect::RefusesResource))
            .map(|d| d.resource.clone())
            .collect();

        let mut served = substitute(resources, &self.accepted, &refused);
        let mut output = compile(&served, gateway, options);
        for _ in 0..MAX_ROUNDS {
            let (found, rest): (Vec<_>, Vec<_>) = output
                .diagnostics
                .into_iter()
                .partition(|d| d.effect == Some(Effect::RefusesResource));
            output.diagnostics = rest;
            let new: Vec<Diagnostic> = found
                .into_iter()
                .filter(|d| !refused.contains(&d.resource))
                .collect();
            if new.is_empty() {
                break;
            }
            refused.extend(new.iter().map(|d| d.resource.clone()));
            reasons.extend(new);
            served = substitute(resources, &self.accepted, &refused);
            output = compile(&served, gateway, options);
        }

        for reference in &refused {
            let first = reasons
                .iter()
                .chain(read)
                .find(|d| &d.resource == reference);
            output
                .diagnostics
                .push(self.summary(reference, first.and_then(|d| d.file.as_deref())));
        }
        output.diagnostics.extend(reasons);
        output.diagnostics.sort();
        output.diagnostics.dedup();
        if !keeps_last_good(read) && !keeps_last_good(&output.diagnostics) {
            self.accepted = served;
        }
        output
    }

    /// The error that says what became of refused resource `reference`.
    fn summary(&self, reference: &str, file: Option<&str>) -> Diagnostic {
        let message = if self.has_accepted(reference) {
            "invalid, so refused as a whole as Istio refuses it when it is applied; the version \
             accepted before keeps serving"
        } else {
            "invalid, so refused as a whole as Istio refuses it when it is applied; it is not \
             served until it is mended (no earlier version was accepted)"
        };
        Diagnostic::error(reference, message).file(file).rule("A-1")
    }

    fn has_accepted(&self, reference: &str) -> bool {
        let a = &self.accepted;
        refs(&a.gateways)
            .chain(refs(&a.virtual_services))
            .chain(refs(&a.service_entries))
            .chain(refs(&a.destination_rules))
            .chain(a.secrets.iter().map(Secret::reference))
            .any(|r| r == reference)
    }
}

fn refs<S>(objects: &[Object<S>]) -> impl Iterator<Item = String> + '_ {
    objects.iter().map(Object::reference)
}

/// `current`, with every object whose reference is `refused` replaced by its accepted version
/// (if any).
fn substitute(current: &Resources, accepted: &Resources, refused: &BTreeSet<String>) -> Resources {
    Resources {
        gateways: replace(
            &current.gateways,
            &accepted.gateways,
            refused,
            Object::reference,
        ),
        virtual_services: replace(
            &current.virtual_services,
            &accepted.virtual_services,
            refused,
            Object::reference,
        ),
        service_entries: replace(
            &current.service_entries,
            &accepted.service_entries,
            refused,
            Object::reference,
        ),
        destination_rules: replace(
            &current.destination_rules,
            &accepted.destination_rules,
            refused,
            Object::reference,
        ),
        secrets: replace(
            &current.secrets,
            &accepted.secrets,
            refused,
            Secret::reference,
        ),
    }
}

fn replace<T: Clone>(
    current: &[T],
    accepted: &[T],
    refused: &BTreeSet<String>,
    reference: impl Fn(&T) -> String,
) -> Vec<T> {
    let mut out: Vec<T> = current
        .iter()
        .filter(|o| !refused.contains(&reference(o)))
        .cloned()
        .collect();
    // A refused resource may be absent from `current` (the loader could not read it), so its
    // accepted version is looked up by reference, not by position.
    let earlier: BTreeMap<String, &T> = accepted.iter().map(|o| (reference(o), o)).collect();
    out.extend(
        refused
            .iter()
            .filter_map(|r| earlier.get(r).map(|o| (*o).clone())),
    );
    out
}
