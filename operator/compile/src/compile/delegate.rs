//! V-25: delegate VirtualServices merged into the root rules that delegate to them, before
//! anything else reads the VirtualServices, as istiod merges them.
//!
//! A delegate is a VirtualService without `hosts`. A root rule (`http[i].delegate`) is replaced
//! by the delegate's rules, each within the root rule's match and with the root rule's settings
//! where the delegate rule has none; a delegate rule whose match is not within the root's is
//! left out. What is merged remembers where each piece came from ([`Delegation`]), so a
//! diagnostic about a merged rule names the resource and field the user wrote.

use std::collections::{BTreeMap, BTreeSet};

use super::bind::gateway_ref;
use super::context::Reporter;
use super::hosts::resolve_short_name;
use super::matches::runtime_match;
use crate::diagnostics::Diagnostic;
use crate::istio::{HttpMatchRequest, HttpRoute, Resources, StringMatch, VirtualService};

/// The resources with delegation merged, and where each merged rule came from.
pub(super) struct Merged {
    /// Root VirtualServices with their delegating rules replaced; delegates taken out.
    pub resources: Resources,
    pub delegation: Delegation,
    /// Validation of delegates and of the delegating rules, and what was left out.
    pub diagnostics: Vec<Diagnostic>,
}

/// Where the rules of merged root VirtualServices came from.
#[derive(Default)]
pub(super) struct Delegation {
    /// The delegates (short names resolved in their own namespace), by index.
    delegates: Vec<VirtualService>,
    /// Per root VirtualService (`Kind ns/name`), per rule of its merged `http`: the origin of a
    /// rule merged from a delegate (`None` for the root's own rules).
    origins: BTreeMap<String, Vec<Option<RuleOrigin>>>,
}

/// A rule merged from delegate rule `rule` into the place of root rule `root_rule`.
struct RuleOrigin {
    root_rule: usize,
    delegate: usize,
    rule: usize,
    /// Fields (camelCase) the merged rule took from the root rule.
    inherited: Vec<&'static str>,
    /// Per merged match block: the root's and the delegate's match block it came from.
    matches: Vec<(Option<usize>, Option<usize>)>,
}

impl Delegation {
    /// The resource and field a user wrote for `field` of merged root `root`, when `field` is
    /// inside a rule merged from a delegate: a field the rule inherited from the root rule is
    /// the root's, everything else the delegate's. `None`: the field is the root's own.
    pub(super) fn source<'a>(
        &'a self,
        root: &'a VirtualService,
        field: &str,
    ) -> Option<(&'a VirtualService, String)> {
        let rest = field.strip_prefix("spec.http[")?;
        let (index, rest) = rest.split_once(']')?;
        let index: usize = index.parse().ok()?;
        let origin = self.origins.get(&root.reference())?.get(index)?.as_ref()?;
        let delegate = &self.delegates[origin.delegate];
        let root_rule = format!("spec.http[{}]", origin.root_rule);
        let delegate_rule = format!("spec.http[{}]", origin.rule);
        if let Some(after) = rest.strip_prefix(".match[")
            && let Some((j, tail)) = after.split_once(']')
            && let Some(&(from_root, from_delegate)) =
                j.parse::<usize>().ok().and_then(|j| origin.matches.get(j))
        {
            return Some(match (from_root, from_delegate) {
                (_, Some(d)) => (delegate, format!("{delegate_rule}.match[{d}]{tail}")),
                (Some(r), None) => (root, format!("{root_rule}.match[{r}]{tail}")),
                (None, None) => (delegate, delegate_rule),
            });
        }
        let name = rest
            .strip_prefix('.')
            .map(|r| r.split(['.', '[']).next().unwrap_or(r));
        if name.is_some_and(|n| origin.inherited.contains(&n)) {
            return Some((root, format!("{root_rule}{rest}")));
        }
        Some((delegate, format!("{delegate_rule}{rest}")))
    }

    /// `d`, about `field` of merged root `root`, moved to the resource and field the user
    /// wrote (see [`Delegation::source`]).
    pub(super) fn attribute(&self, root: &VirtualService, d: &mut Diagnostic) {
        let Some(field) = d.field.as_deref() else {
            return;
        };
        let Some((source, field)) = self.source(root, field) else {
            return;
        };
        d.resource = source.reference();
        d.file = source.file.clone();
        d.location = source.locate(&field);
        d.field = Some(field);
    }
}

/// Merges delegation in `resources`; `None` when nothing delegates and nothing is a delegate,
/// so the common case copies nothing.
pub(super) fn merge(resources: &Resources) -> Option<Merged> {
    let delegating = |vs: &VirtualService| {
        vs.spec.hosts.is_empty() || vs.spec.http.iter().any(|h| h.delegate.is_some())
    };
    if !resources.virtual_services.iter().any(delegating) {
        return None;
    }
    let mut diagnostics = Vec::new();
    // Istio order; the file breaks ties between copies, so which copy of a duplicated
    // delegate serves does not depend on input order (the duplicate itself is reported where
    // every VirtualService's duplicates are).
    let mut sorted: Vec<&VirtualService> = resources.virtual_services.iter().collect();
    sorted.sort_by(|a, b| (a.istio_order_key(), &a.file).cmp(&(b.istio_order_key(), &b.file)));
    let mut delegation = Delegation::default();
    let mut by_name: BTreeMap<(String, String), usize> = BTreeMap::new();
    for vs in sorted.iter().filter(|vs| vs.spec.hosts.is_empty()) {
        let key = (vs.namespace().to_string(), vs.name().to_string());
        if by_name.contains_key(&key) {
            continue;
        }
        validate_delegate(vs, &mut diagnostics);
        by_name.insert(key, delegation.delegates.len());
        delegation.delegates.push(resolved((*vs).clone()));
    }

    let mut referenced = BTreeSet::new();
    let mut out = resources.clone();
    out.virtual_services.retain(|vs| !vs.spec.hosts.is_empty());
    for root in &mut out.virtual_services {
        if !root.spec.http.iter().any(|h| h.delegate.is_some()) {
            continue;
        }
        let root_ns = root.namespace().to_string();
        let mut rules = Vec::new();
        let mut origins = Vec::new();
        for (i, rule) in root.spec.http.iter().enumerate() {
            // Istio's validation refuses a root rule with `route` or `redirect` besides
            // `delegate`; it stays as it is for the compiler to refuse (V-17).
            let Some(target) = rule
                .delegate
                .as_ref()
                .filter(|_| rule.route.is_none() && rule.redirect.is_none())
            else {
                rules.push(rule.clone());
                origins.push(None);
                continue;
            };
            let field = format!("spec.http[{i}].delegate");
            let ns = target.namespace.clone().unwrap_or_else(|| root_ns.clone());
            let Some(&index) = by_name.get(&(ns.clone(), target.name.clone())) else {
                diagnostics.push(left_out(
                    root,
                    &field,
                    format!(
                        "delegate VirtualService {ns}/{} not found (a delegate is a VirtualService without hosts); the rule serves nothing, as in Istio",
                        target.name
                    ),
                ));
                continue;
            };
            referenced.insert(index);
            let delegate = &delegation.delegates[index];
            if !visible(delegate, &root_ns) {
                diagnostics.push(left_out(
                    root,
                    &field,
                    format!(
                        "delegate VirtualService {ns}/{} is not exported to namespace {root_ns}; the rule serves nothing, as in Istio",
                        target.name
                    ),
                ));
                continue;
            }
            let Some(root_matches) = valid_root_matches(root, rule, i, &mut diagnostics) else {
                continue;
            };
            for (j, sub) in delegate.spec.http.iter().enumerate() {
                match merge_rule(rule, &root_matches, sub) {
                    Some((merged, inherited, matches)) => {
                        rules.push(merged);
                        origins.push(Some(RuleOrigin {
                            root_rule: i,
                            delegate: index,
                            rule: j,
                            inherited,
                            matches,
                        }));
                    }
                    None => diagnostics.push(left_out(
                        delegate,
                        &format!("spec.http[{j}].match"),
                        format!(
                            "no match block is within the match of rule {i} of {}, which delegates here; this rule is left out there, as in Istio",
                            root.reference()
                        ),
                    )),
                }
            }
        }
        root.spec.http = rules;
        delegation.origins.insert(root.reference(), origins);
    }
    for (index, vs) in delegation.delegates.iter().enumerate() {
        if !referenced.contains(&index) {
            diagnostics.push(
                Diagnostic::info(
                    vs.reference(),
                    "a delegate VirtualService (no hosts) that no root rule delegates to: it serves nothing",
                )
                .file(vs.file.as_deref())
                .at(vs.locate("spec.hosts"))
                .rule("V-25"),
            );
        }
    }
    Some(Merged {
        resources: out,
        delegation,
        diagnostics,
    })
}

/// Istio's validation of a delegate as a resource: no gateways, no TLS or TCP rules (an
/// error refuses the delegate, A-1).
fn validate_delegate(vs: &VirtualService, out: &mut Vec<Diagnostic>) {
    let mut r = Reporter::for_object(vs, out);
    if vs.spec.gateways.as_ref().is_some_and(|g| !g.is_empty()) {
        r.error(
            "spec.gateways",
            "a delegate VirtualService (no hosts) must not name gateways: the root's apply",
            Some("V-25"),
        );
    }
    for (set, name) in [
        (!vs.spec.tls.is_empty(), "tls"),
        (!vs.spec.tcp.is_empty(), "tcp"),
    ] {
        if set {
            r.error(
                &format!("spec.{name}"),
                format!(
                    "a delegate VirtualService (no hosts) can hold only http rules, not {name}"
                ),
                Some("V-25"),
            );
        }
    }
}

/// The delegating rule's match blocks that are valid, with their index: the root's own match
/// is validated here, against the root, so its errors name the root and not a delegate.
/// `None` when it had blocks and none is valid: the rule is dropped.
fn valid_root_matches(
    root: &VirtualService,
    rule: &HttpRoute,
    i: usize,
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<(usize, HttpMatchRequest)>> {
    let Some(blocks) = rule.matches.as_ref().filter(|m| !m.is_empty()) else {
        return Some(Vec::new());
    };
    let mut r = Reporter::for_object(root, out);
    let valid: Vec<(usize, HttpMatchRequest)> = blocks
        .iter()
        .enumerate()
        .filter(|(j, m)| runtime_match(&mut r, m, &format!("spec.http[{i}].match[{j}]")).is_some())
        .map(|(j, m)| (j, m.clone()))
        .collect();
    (!valid.is_empty()).then_some(valid)
}

/// A warning: Istio accepts the configuration and leaves this piece out without a word.
fn left_out(vs: &VirtualService, field: &str, message: String) -> Diagnostic {
    Diagnostic::warning(vs.reference(), message)
        .field(field)
        .file(vs.file.as_deref())
        .at(vs.locate(field))
        .rule("V-25")
}

/// Istio resolves a delegate's short names in the delegate's own namespace before merging.
fn resolved(mut vs: VirtualService) -> VirtualService {
    let ns = vs.namespace().to_string();
    for rule in &mut vs.spec.http {
        for d in rule.route.iter_mut().flatten() {
            d.destination.host = resolve_short_name(&d.destination.host, &ns);
        }
        if let Some(m) = &mut rule.mirror {
            m.host = resolve_short_name(&m.host, &ns);
        }
        for m in rule.mirrors.iter_mut().flatten() {
            m.destination.host = resolve_short_name(&m.destination.host, &ns);
        }
        for m in rule.matches.iter_mut().flatten() {
            for g in &mut m.gateways {
                *g = gateway_ref(g, &ns);
            }
        }
    }
    vs
}

/// The delegate's `exportTo` (none: everywhere) includes `namespace`.
fn visible(delegate: &VirtualService, namespace: &str) -> bool {
    match &delegate.spec.export_to {
        None => true,
        Some(list) if list.is_empty() => true,
        Some(list) => list
            .iter()
            .any(|e| e == "*" || e == namespace || (e == "." && delegate.namespace() == namespace)),
    }
}

type MergedRule = (
    HttpRoute,
    Vec<&'static str>,
    Vec<(Option<usize>, Option<usize>)>,
);

/// Istio's `mergeHTTPRoute`: the delegate rule, within the root rule's match, with the root's
/// settings where the delegate has none; `None` when its match is not within the root's.
///
/// One deliberate difference: a delegate rule that redirects or answers directly does not take
/// the root rule's `rewrite` (Istio ignores it there too) or `fault` (Portcullis injects faults
/// only on routed requests, V-23), so the merged rule is one Istio's validation would accept.
fn merge_rule(
    root: &HttpRoute,
    root_matches: &[(usize, HttpMatchRequest)],
    delegate: &HttpRoute,
) -> Option<MergedRule> {
    let mut out = delegate.clone();
    let (matches, origins) = merge_matches(root_matches, delegate.matches.as_deref())?;
    out.matches = matches;
    out.name = joined_name(&root.name, &delegate.name);
    let routed = delegate.redirect.is_none() && delegate.direct_response.is_none();
    let mut inherited = Vec::new();
    macro_rules! inherit {
        ($($field:ident => $name:literal),* $(,)?) => {$(
            if out.$field.is_none() && root.$field.is_some() {
                out.$field = root.$field.clone();
                inherited.push($name);
            }
        )*};
    }
    if routed {
        inherit!(rewrite => "rewrite", fault => "fault");
    }
    inherit!(
        timeout => "timeout",
        retries => "retries",
        mirror => "mirror",
        mirror_percent => "mirrorPercent",
        mirror_percentage => "mirrorPercentage",
        cors_policy => "corsPolicy",
        headers => "headers",
    );
    Some((out, inherited, origins))
}

/// Istio's `mergeHTTPMatchRequests`: every delegate block must be within some root block (each
/// pairing that does not conflict gives one merged block); else the rule conflicts (`None`).
/// Also returns, per merged block, the root and delegate blocks it came from.
#[allow(clippy::type_complexity)]
fn merge_matches(
    root: &[(usize, HttpMatchRequest)],
    delegate: Option<&[HttpMatchRequest]>,
) -> Option<(
    Option<Vec<HttpMatchRequest>>,
    Vec<(Option<usize>, Option<usize>)>,
)> {
    let delegate = delegate.unwrap_or_default();
    if root.is_empty() {
        let origins = (0..delegate.len()).map(|j| (None, Some(j))).collect();
        return Some(((!delegate.is_empty()).then(|| delegate.to_vec()), origins));
    }
    if delegate.is_empty() {
        let origins = root.iter().map(|(i, _)| (Some(*i), None)).collect();
        return Some((Some(root.iter().map(|(_, m)| m.clone()).collect()), origins));
    }
    let mut out = Vec::new();
    let mut origins = Vec::new();
    for (j, sub) in delegate.iter().enumerate() {
        let before = out.len();
        for (i, r) in root.iter().filter(|(_, r)| !conflicts(r, sub)) {
            out.push(merge_match(r, sub));
            origins.push((Some(*i), Some(j)));
        }
        if out.len() == before {
            return None;
        }
    }
    Some((Some(out), origins))
}

/// `root-delegate`, or whichever is set (an empty name counts as unset, as in protobuf).
fn joined_name(root: &Option<String>, delegate: &Option<String>) -> Option<String> {
    let set = |n: &Option<String>| n.clone().filter(|n| !n.is_empty());
    match (set(root), set(delegate)) {
        (Some(r), Some(d)) => Some(format!("{r}-{d}")),
        (None, d) => d,
        (r, None) => r,
    }
}

/// Istio's `mergeHTTPMatchRequest`: the delegate block, with the root's conditions where it
/// has none; header, query and label maps are the union, the delegate's entries winning.
fn merge_match(root: &HttpMatchRequest, delegate: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = delegate.clone();
    out.name = joined_name(&root.name, &delegate.name);
    for (mine, theirs) in [
        (&mut out.uri, &root.uri),
        (&mut out.scheme, &root.scheme),
        (&mut out.method, &root.method),
        (&mut out.authority, &root.authority),
    ] {
        if mine.is_none() {
            mine.clone_from(theirs);
        }
    }
    for (mine, root_map, delegate_map) in [
        (&mut out.headers, &root.headers, &delegate.headers),
        (
            &mut out.without_headers,
            &root.without_headers,
            &delegate.without_headers,
        ),
        (
            &mut out.query_params,
            &root.query_params,
            &delegate.query_params,
        ),
    ] {
        *mine = root_map.clone();
        mine.extend(delegate_map.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if out.port.is_none_or(|p| p == 0) {
        out.port = root.port;
    }
    let mut labels = root.source_labels.clone();
    labels.extend(delegate.source_labels.clone());
    out.source_labels = labels;
    if out.source_namespace.as_deref().is_none_or(str::is_empty) {
        out.source_namespace.clone_from(&root.source_namespace);
    }
    if out.gateways.is_empty() {
        out.gateways.clone_from(&root.gateways);
    }
    out
}

/// Istio's `hasConflict`: the delegate block asks for something outside the root block.
fn conflicts(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    if pairs
        .iter()
        .any(|(r, l)| string_conflict(r.as_ref(), l.as_ref()))
    {
        return true;
    }
    for (root_map, leaf_map) in [
        (&root.headers, &leaf.headers),
        (&root.without_headers, &leaf.without_headers),
        (&root.query_params, &leaf.query_params),
    ] {
        if leaf_map
            .iter()
            .any(|(k, l)| string_conflict(root_map.get(k), Some(l)))
        {
            return true;
        }
    }
    if root.ignore_uri_case != leaf.ignore_uri_case {
        return true;
    }
    if let (Some(r), Some(l)) = (root.port, leaf.port)
        && r > 0
        && l > 0
        && r != l
    {
        return true;
    }
    if let Some(ns) = root.source_namespace.as_deref().filter(|n| !n.is_empty())
        && leaf.source_namespace.as_deref() != Some(ns)
    {
        return true;
    }
    if leaf
        .source_labels
        .iter()
        .any(|(k, v)| root.source_labels.get(k).is_some_and(|r| r != v))
    {
        return true;
    }
    !root.gateways.is_empty()
        && !leaf.gateways.is_empty()
        && !leaf.gateways.iter().all(|g| root.gateways.contains(g))
}

/// Istio's `stringMatchConflict` (an empty string counts as unset, as in protobuf): a regex on
/// either side conflicts with any condition on the other; an exact root admits only the same
/// exact; a prefix root admits a longer prefix or an exact that starts with it.
fn string_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let set = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    let (r_exact, r_prefix, r_regex) = (set(&root.exact), set(&root.prefix), set(&root.regex));
    let (l_exact, l_prefix, l_regex) = (set(&leaf.exact), set(&leaf.prefix), set(&leaf.regex));
    let leaf_any = l_exact.is_some() || l_prefix.is_some() || l_regex.is_some();
    let root_any = r_exact.is_some() || r_prefix.is_some() || r_regex.is_some();
    if (r_regex.is_some() && leaf_any) || (l_regex.is_some() && root_any) {
        return true;
    }
    if let Some(exact) = r_exact {
        return l_prefix.is_some() || l_exact.as_deref() != Some(exact.as_str());
    }
    if let Some(prefix) = r_prefix {
        if let Some(p) = l_prefix {
            return !p.starts_with(&prefix);
        }
        if let Some(e) = l_exact {
            return !e.starts_with(&prefix);
        }
    }
    true
}
