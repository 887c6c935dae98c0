//! Forwarding: weighted destinations (V-18), rewrite (V-21) and mirrors (V-24).

use portcullis_core::wire::{RegexRewrite, Rewrite};

use super::super::context::Reporter;
use super::super::hosts::resolve_short_name;
use super::super::matches::validate_regex;
use super::fault::percentage;
use super::headers::header_ops;
use super::{DestRef, WeightedDest};
use crate::istio::{self, HttpRoute};

pub(super) fn destinations(
    r: &mut Reporter<'_>,
    ns: &str,
    routes: &[istio::HttpRouteDestination],
    field: &str,
) -> Option<Vec<WeightedDest>> {
    if routes.is_empty() {
        r.error(
            field,
            "route has no destination; rule dropped",
            Some("V-18"),
        );
        return None;
    }
    let single = routes.len() == 1;
    let mut out = Vec::new();
    for (k, d) in routes.iter().enumerate() {
        let f = format!("{field}[{k}]");
        let dest = dest_ref(r, ns, &d.destination, &format!("{f}.destination"))?;
        let weight = d.weight.unwrap_or(0);
        if !(0..=i64::from(u32::MAX)).contains(&weight) {
            r.error(
                &format!("{f}.weight"),
                "weight must not be negative; rule dropped",
                Some("V-18"),
            );
            return None;
        }
        // V-18: a single destination takes all traffic whatever its weight; weight 0 never does.
        let weight = if single { 100 } else { weight as u32 };
        if weight == 0 {
            continue;
        }
        // V-22: `:authority`/`host` set on a destination rewrites the authority of the
        // requests sent to it (Envoy's per-cluster host rewrite).
        let (headers, authority) = header_ops(r, d.headers.as_ref(), &format!("{f}.headers"), true);
        out.push(WeightedDest {
            dest,
            weight,
            headers,
            authority,
        });
    }
    if out.is_empty() {
        r.error(
            field,
            "every destination has weight 0; rule dropped",
            Some("V-18"),
        );
        return None;
    }
    Some(out)
}

pub(crate) fn dest_ref(
    r: &mut Reporter<'_>,
    ns: &str,
    d: &istio::Destination,
    field: &str,
) -> Option<DestRef> {
    if d.host.is_empty() {
        r.error(
            &format!("{field}.host"),
            "destination host is required; rule dropped",
            Some("V-18"),
        );
        return None;
    }
    let port = match &d.port {
        Some(p) if p.number == 0 || p.number > 65535 => {
            r.error(
                &format!("{field}.port.number"),
                "port must be 1-65535; rule dropped",
                Some("V-18"),
            );
            return None;
        }
        Some(p) => Some(p.number as u16),
        None => None,
    };
    Some(DestRef {
        fqdn: resolve_short_name(&d.host, ns),
        subset: d.subset.clone().unwrap_or_default(),
        port,
        field: field.to_string(),
    })
}

pub(super) fn rewrite_action(
    r: &mut Reporter<'_>,
    rw: &istio::HttpRewrite,
    field: &str,
) -> Option<Rewrite> {
    if rw.uri.is_some() && rw.uri_regex_rewrite.is_some() {
        r.error(
            field,
            "uri and uriRegexRewrite are mutually exclusive; rule dropped",
            Some("V-21"),
        );
        return None;
    }
    let uri_regex = match &rw.uri_regex_rewrite {
        Some(rr) => {
            if let Err(e) = validate_regex(&rr.pattern) {
                r.error(
                    &format!("{field}.uriRegexRewrite.match"),
                    format!("{e}; rule dropped"),
                    Some("V-21"),
                );
                return None;
            }
            Some(RegexRewrite {
                pattern: rr.pattern.clone(),
                substitution: rr.rewrite.clone(),
            })
        }
        None => None,
    };
    Some(Rewrite {
        uri: rw.uri.clone(),
        uri_regex,
        authority: rw.authority.clone(),
    })
}

pub(super) fn mirrors(
    r: &mut Reporter<'_>,
    ns: &str,
    http: &HttpRoute,
    field: &str,
    is_route: bool,
) -> Option<Vec<(DestRef, f64)>> {
    if http.mirror.is_some() && http.mirrors.is_some() {
        r.error(
            field,
            "mirror and mirrors are mutually exclusive; rule dropped",
            Some("V-24"),
        );
        return None;
    }
    let mut out = Vec::new();
    if let Some(m) = &http.mirror {
        let d = dest_ref(r, ns, m, &format!("{field}.mirror"))?;
        let pct = percentage(
            r,
            http.mirror_percentage.as_ref(),
            http.mirror_percent,
            &format!("{field}.mirrorPercentage"),
            Some(100.0),
        )?;
        out.push((d, pct));
    }
    for (k, m) in http.mirrors.iter().flatten().enumerate() {
        let f = format!("{field}.mirrors[{k}]");
        let d = dest_ref(r, ns, &m.destination, &format!("{f}.destination"))?;
        out.push((
            d,
            percentage(r, m.percentage.as_ref(), None, &f, Some(100.0))?,
        ));
    }
    if !out.is_empty() && !is_route {
        r.warning(
            field,
            "mirrors only apply to forwarded requests; ignored",
            Some("V-24"),
        );
        out.clear();
    }
    Some(out)
}
