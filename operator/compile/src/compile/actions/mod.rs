//! Rule actions and their companions (V-17 … V-24): validated once per VirtualService rule.

mod fault;
mod forward;
mod headers;
mod local;
mod options;

use fault::fault;
pub(super) use forward::dest_ref;
use forward::{destinations, mirrors, rewrite_action};
use headers::header_ops;
use local::{direct_action, redirect_action};
use options::{cors, retries};

use portcullis_core::wire::{
    Cors, DirectResponse, Fault, HeaderOperationsPair, Redirect, Retries, Rewrite,
};

use super::context::Reporter;
use super::duration::parse_ms;
use crate::istio::HttpRoute;

/// Istio caps direct response bodies at 1 MiB (V-20).
const MAX_BODY: usize = 1 << 20;

/// A destination before the listener port is known (V-18).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DestRef {
    pub fqdn: String,
    pub subset: String,
    pub port: Option<u16>,
    pub field: String,
}

/// One weighted destination of a forwarding rule, with its own header operations (V-18, V-22).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct WeightedDest {
    pub dest: DestRef,
    pub weight: u32,
    pub headers: HeaderOperationsPair,
    /// `:authority`/`host` set in the destination's request headers.
    pub authority: Option<String>,
}

/// The action of a rule, destinations unresolved.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ActionTemplate {
    Route {
        destinations: Vec<WeightedDest>,
        rewrite: Option<Rewrite>,
    },
    Redirect(Redirect),
    Direct(DirectResponse),
}

/// Everything of a rule but its matches.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RuleBody {
    pub action: ActionTemplate,
    pub headers: HeaderOperationsPair,
    pub fault: Option<Fault>,
    pub mirrors: Vec<(DestRef, f64)>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<Retries>,
    pub cors: Option<Cors>,
}

/// Validates and translates a rule's action and options. `None` (with an error) drops the rule.
pub(super) fn rule_body(
    r: &mut Reporter<'_>,
    ns: &str,
    http: &HttpRoute,
    field: &str,
) -> Option<RuleBody> {
    let has_route = http.route.is_some();
    let actions = [
        has_route,
        http.redirect.is_some(),
        http.direct_response.is_some(),
        http.delegate.is_some(),
    ];
    match actions.iter().filter(|a| **a).count() {
        0 => {
            r.error(
                field,
                "rule has no action (route, redirect, directResponse or delegate); rule dropped",
                Some("V-17"),
            );
            return None;
        }
        1 => {}
        _ => {
            r.error(
                field,
                "route, redirect, directResponse and delegate are mutually exclusive; rule dropped",
                Some("V-17"),
            );
            return None;
        }
    }
    if http.delegate.is_some() {
        // Every root rule's delegate has been merged (V-25); one left is in a delegate's rule.
        r.error(
            &format!("{field}.delegate"),
            "a delegate VirtualService's rule cannot delegate again (Istio supports one level of delegation)",
            Some("V-25"),
        );
        return None;
    }
    if !has_route {
        for (set, name) in [
            (http.rewrite.is_some(), "rewrite"),
            (http.fault.is_some(), "fault"),
        ] {
            if set {
                r.error(
                    &format!("{field}.{name}"),
                    format!(
                        "{name} cannot be combined with redirect or directResponse; rule dropped"
                    ),
                    Some("V-17"),
                );
                return None;
            }
        }
    }
    let (headers, header_authority) =
        header_ops(r, http.headers.as_ref(), &format!("{field}.headers"), true);
    let action = if let Some(redirect) = &http.redirect {
        ActionTemplate::Redirect(redirect_action(r, redirect, &format!("{field}.redirect"))?)
    } else if let Some(direct) = &http.direct_response {
        ActionTemplate::Direct(direct_action(
            r,
            direct,
            &format!("{field}.directResponse"),
        )?)
    } else {
        let routes = http.route.as_deref().unwrap_or_default();
        let destinations = destinations(r, ns, routes, &format!("{field}.route"))?;
        let mut rewrite = match &http.rewrite {
            Some(rw) => Some(rewrite_action(r, rw, &format!("{field}.rewrite"))?),
            None => None,
        };
        // V-21: `headers.request.set[:authority|host]` is an authority rewrite; `rewrite.authority` wins.
        if let Some(authority) = header_authority {
            let rw = rewrite.get_or_insert_with(Rewrite::default);
            if rw.authority.is_none() {
                rw.authority = Some(authority);
            }
        }
        ActionTemplate::Route {
            destinations,
            rewrite,
        }
    };
    let is_route = matches!(action, ActionTemplate::Route { .. });
    let fault = match &http.fault {
        Some(f) => Some(fault(r, f, &format!("{field}.fault"))?),
        None => None,
    };
    let mirrors = mirrors(r, ns, http, field, is_route)?;
    let timeout_ms = match &http.timeout {
        // V-27: at least 1 ms, as Istio validates it (an unset timeout means none).
        Some(t) => match parse_ms(t) {
            Ok(ms) => Some(ms),
            Err(e) => {
                r.error(
                    &format!("{field}.timeout"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        },
        None => None,
    };
    let retries = if !is_route {
        None
    } else {
        retries(r, http, field, fault.is_some())?
    };
    let cors = match &http.cors_policy {
        Some(c) => Some(cors(r, c, &format!("{field}.corsPolicy"))?),
        None => None,
    };
    Some(RuleBody {
        action,
        headers,
        fault,
        mirrors,
        timeout_ms,
        retries,
        cors,
    })
}
