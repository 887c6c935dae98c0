//! The route list of one VirtualService at one Gateway port (V-5, V-6, V-16, V-18, V-26).

use std::rc::Rc;

use portcullis_core::wire::{Action, Destination, Forward, Mirror, Route, RouteMatch};

use super::actions::{ActionTemplate, DestRef, RuleBody, rule_body};
use super::bind::gateway_ref;
use super::context::{Ctx, Reporter};
use super::matches::{is_catch_all, runtime_match};
use crate::istio::{HttpRoute, VirtualService};

/// One `http[i]` rule, validated.
#[derive(Clone, Debug)]
pub(super) struct CompiledRule {
    pub index: usize,
    pub name: Option<String>,
    /// `None` = the rule has no `match` (one catch-all route, V-7).
    pub matches: Option<Vec<MatchBlock>>,
    pub body: RuleBody,
}

/// One `match[j]` block of a rule, validated: its configuration-time selectors (resolved here,
/// never sent to the filters) and its runtime conditions (the wire `RouteMatch`, which the
/// filters' core compiles into its `route::CompiledMatch`).
#[derive(Clone, Debug)]
pub(super) struct MatchBlock {
    pub index: usize,
    pub name: Option<String>,
    pub port: Option<u32>,
    /// `match.gateways` resolved to `ns/name` (V-16).
    pub gateways: Vec<String>,
    pub source_labels: std::collections::BTreeMap<String, String>,
    pub source_namespace: Option<String>,
    pub runtime: RouteMatch,
}

/// The rules of `vs`, validated once (diagnostics are reported on first use).
pub(super) fn rules_of(ctx: &mut Ctx<'_>, vs: &VirtualService) -> Rc<Vec<CompiledRule>> {
    let key = vs.reference();
    if let Some(rules) = ctx.rule_cache.get(&key) {
        return rules.clone();
    }
    let ns = vs.namespace().to_string();
    let mut rules = Vec::new();
    for (i, http) in vs.spec.http.iter().enumerate() {
        let field = format!("spec.http[{i}]");
        let first = ctx.diagnostics.len();
        let mut r = ctx.reporter(vs);
        if let Some(rule) = compile_rule(&mut r, &ns, http, i, &field) {
            rules.push(rule);
        }
        // A rule merged from a delegate (V-25): its diagnostics name what the user wrote.
        if let Some(delegation) = ctx.delegation {
            for d in &mut ctx.diagnostics[first..] {
                delegation.attribute(vs, d);
            }
        }
    }
    let rules = Rc::new(rules);
    ctx.rule_cache.insert(key, rules.clone());
    rules
}

/// Validates and translates rule `i` of a VirtualService in namespace `ns`; `None` (with an
/// error) drops it.
fn compile_rule(
    r: &mut Reporter<'_>,
    ns: &str,
    http: &HttpRoute,
    i: usize,
    field: &str,
) -> Option<CompiledRule> {
    let body = rule_body(r, ns, http, field)?;
    let matches = http.matches.as_ref().map(|ms| {
        ms.iter()
            .enumerate()
            .filter_map(|(j, m)| {
                let runtime = runtime_match(r, m, &format!("{field}.match[{j}]"))?;
                Some(MatchBlock {
                    index: j,
                    name: m.name.clone(),
                    port: m.port,
                    gateways: m.gateways.iter().map(|g| gateway_ref(g, ns)).collect(),
                    source_labels: m.source_labels.clone(),
                    source_namespace: m.source_namespace.clone(),
                    runtime,
                })
            })
            .collect()
    });
    Some(CompiledRule {
        index: i,
        name: http.name.clone(),
        matches,
        body,
    })
}

/// The routes `vs` contributes at Gateway `gw` on listener `port`: one per (rule, match) that
/// survives the configuration-time selectors (V-5, V-16), stopping after the first catch-all.
pub(super) fn emit(ctx: &mut Ctx<'_>, vs: &VirtualService, gw: &str, port: u16) -> Vec<Route> {
    let rules = rules_of(ctx, vs);
    let vs_key = format!("{}/{}", vs.namespace(), vs.name());
    let mut routes = Vec::new();
    for rule in rules.iter() {
        let selected: Vec<(usize, Option<&String>, &RouteMatch)> = match &rule.matches {
            None => vec![(0, None, &EMPTY)],
            Some(ms) => ms
                .iter()
                .filter(|m| applies(ctx, m, gw, port))
                .map(|m| (m.index, m.name.as_ref(), &m.runtime))
                .collect(),
        };
        for (j, match_name, runtime) in selected {
            let name = match (&rule.name, match_name) {
                (Some(r), Some(m)) => format!("{r}.{m}"),
                (Some(r), None) => r.clone(),
                _ => format!("{vs_key}/{}/{j}", rule.index),
            };
            let route = build_route(ctx, vs, &rule.body, name, &vs_key, runtime.clone(), port);
            let catch_all = is_catch_all(&route.matcher);
            routes.push(route);
            if catch_all {
                // V-5: later rules of this VS are unreachable.
                return routes;
            }
        }
    }
    routes
}

static EMPTY: RouteMatch = RouteMatch {
    uri: None,
    scheme: None,
    method: None,
    authority: None,
    headers: std::collections::BTreeMap::new(),
    without_headers: std::collections::BTreeMap::new(),
    query_params: std::collections::BTreeMap::new(),
    ignore_uri_case: false,
};

/// V-5/V-16: `port` must equal the listener port; `gateways` (when set) must name this
/// Gateway; otherwise `sourceLabels`/`sourceNamespace` must describe the gateway pod.
fn applies(ctx: &Ctx<'_>, m: &MatchBlock, gw: &str, port: u16) -> bool {
    if m.port.is_some_and(|p| p != u32::from(port)) {
        return false;
    }
    if !m.gateways.is_empty() {
        return m.gateways.iter().any(|g| g == gw);
    }
    let labels_ok = m
        .source_labels
        .iter()
        .all(|(k, v)| ctx.identity.labels.get(k) == Some(v));
    let ns_ok = m
        .source_namespace
        .as_ref()
        .is_none_or(|ns| *ns == ctx.identity.namespace);
    labels_ok && ns_ok
}

fn build_route(
    ctx: &mut Ctx<'_>,
    vs: &VirtualService,
    body: &RuleBody,
    name: String,
    vs_key: &str,
    matcher: RouteMatch,
    port: u16,
) -> Route {
    let action = match &body.action {
        ActionTemplate::Redirect(r) => Action::Redirect(r.clone()),
        ActionTemplate::Direct(d) => Action::DirectResponse(d.clone()),
        ActionTemplate::Route {
            destinations,
            rewrite,
        } => Action::Route(Forward {
            destinations: destinations
                .iter()
                .map(|d| Destination {
                    cluster: cluster_of(ctx, vs, &d.dest, port),
                    weight: d.weight,
                    headers: d.headers.clone(),
                    authority: d.authority.clone(),
                })
                .collect(),
            rewrite: rewrite.clone(),
        }),
    };
    let mirrors = body
        .mirrors
        .iter()
        .map(|(d, pct)| Mirror {
            cluster: cluster_of(ctx, vs, d, port),
            percentage: *pct,
        })
        .collect();
    Route {
        name,
        virtual_service: vs_key.to_string(),
        matcher,
        action,
        headers: body.headers.clone(),
        fault: body.fault.clone(),
        mirrors,
        timeout_ms: body.timeout_ms,
        retries: body.retries.clone(),
        cors: body.cors.clone(),
    }
}

/// V-18: port = explicit, else the service's only port (ServiceEntry), else the listener port.
pub(super) fn cluster_of(
    ctx: &mut Ctx<'_>,
    owner: &VirtualService,
    d: &DestRef,
    listener_port: u16,
) -> String {
    let port = d.port.unwrap_or_else(|| {
        ctx.service_entry(&d.fqdn)
            .filter(|se| se.spec.ports.len() == 1)
            .and_then(|se| u16::try_from(se.spec.ports[0].number).ok())
            .unwrap_or(listener_port)
    });
    // A destination of a rule merged from a delegate (V-25) is the delegate's.
    let delegation = ctx.delegation;
    match delegation.and_then(|del| del.source(owner, &d.field)) {
        Some((source, field)) => ctx.cluster(&d.fqdn, port, &d.subset, source, &field),
        None => ctx.cluster(&d.fqdn, port, &d.subset, owner, &d.field),
    }
}
