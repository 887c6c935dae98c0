//! Rule actions and their companions (V-17 … V-24): validated once per VirtualService rule.

use portcullis_core::config::{
    Cors, DerivePort, DirectResponse, Fault, FaultAbort, FaultDelay, HeaderOperations, HeaderOps,
    Redirect, RegexRewrite, Retries, Rewrite,
};

use super::context::Reporter;
use super::duration::parse_ms;
use super::hosts::resolve_short_name;
use super::matches::{string_match, validate_regex};
use crate::istio::{self, HttpRoute};

/// Istio's mesh default retry policy (V-24), applied when a rule sets no `retries`.
pub const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
/// Istio's mesh default number of retries (V-24).
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 2;
/// Istio caps direct response bodies at 1 MiB (V-20).
const MAX_BODY: usize = 1 << 20;

/// A destination before the listener port is known (V-18).
#[derive(Clone, Debug, PartialEq)]
pub struct DestRef {
    pub fqdn: String,
    pub subset: String,
    pub port: Option<u16>,
    pub field: String,
}

/// The action of a rule, destinations unresolved.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionTemplate {
    Route {
        destinations: Vec<(DestRef, u32, HeaderOps)>,
        rewrite: Option<Rewrite>,
    },
    Redirect(Redirect),
    Direct(DirectResponse),
}

/// Everything of a rule but its matches.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleBody {
    pub action: ActionTemplate,
    pub headers: HeaderOps,
    pub fault: Option<Fault>,
    pub mirrors: Vec<(DestRef, f64)>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<Retries>,
    pub cors: Option<Cors>,
}

/// Validates and translates a rule's action and options. `None` (with an error) drops the rule.
pub fn rule_body(
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
        r.error(&format!("{field}.delegate"), "delegate is not supported by Portcullis yet; rule dropped (as Istio does for a missing delegate)", Some("V-25"));
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
        Some(t) => match parse_ms(t) {
            Ok(0) => None,
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

fn destinations(
    r: &mut Reporter<'_>,
    ns: &str,
    routes: &[istio::HttpRouteDestination],
    field: &str,
) -> Option<Vec<(DestRef, u32, HeaderOps)>> {
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
        let (headers, authority) =
            header_ops(r, d.headers.as_ref(), &format!("{f}.headers"), false);
        if authority.is_some() {
            r.warning(
                &format!("{f}.headers"),
                "a per-destination authority rewrite is not supported; ignored",
                Some("V-22"),
            );
        }
        out.push((dest, weight, headers));
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

pub fn dest_ref(
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

fn redirect_action(
    r: &mut Reporter<'_>,
    rd: &istio::HttpRedirect,
    field: &str,
) -> Option<Redirect> {
    let code = rd.redirect_code.unwrap_or(301);
    if ![301, 302, 303, 307, 308].contains(&code) {
        r.error(
            &format!("{field}.redirectCode"),
            format!("redirect code {code} is not one of 301, 302, 303, 307, 308; rule dropped"),
            Some("V-19"),
        );
        return None;
    }
    if rd.prefix_rewrite.is_some() {
        r.error(
            &format!("{field}.prefixRewrite"),
            "redirect.prefixRewrite is not supported by Portcullis yet; rule dropped",
            Some("V-19"),
        );
        return None;
    }
    let derive_port = match rd.derive_port.as_deref() {
        None => None,
        Some("FROM_PROTOCOL_DEFAULT") => Some(DerivePort::FromProtocolDefault),
        Some("FROM_REQUEST_PORT") => Some(DerivePort::FromRequestPort),
        Some(other) => {
            r.error(
                &format!("{field}.derivePort"),
                format!("unknown derivePort {other:?}; rule dropped"),
                Some("V-19"),
            );
            return None;
        }
    };
    let port = match rd.port {
        Some(p) if p == 0 || p > 65535 => {
            r.error(
                &format!("{field}.port"),
                "port must be 1-65535; rule dropped",
                Some("V-19"),
            );
            return None;
        }
        Some(_) if derive_port.is_some() => {
            r.error(
                field,
                "port and derivePort are mutually exclusive; rule dropped",
                Some("V-19"),
            );
            return None;
        }
        p => p.map(|p| p as u16),
    };
    Some(Redirect {
        uri: rd.uri.clone(),
        authority: rd.authority.clone(),
        port,
        derive_port,
        scheme: rd.scheme.clone(),
        code: code as u16,
    })
}

fn direct_action(
    r: &mut Reporter<'_>,
    d: &istio::HttpDirectResponse,
    field: &str,
) -> Option<DirectResponse> {
    if !(200..=599).contains(&d.status) {
        r.error(
            &format!("{field}.status"),
            format!("status {} is not within 200-599; rule dropped", d.status),
            Some("V-20"),
        );
        return None;
    }
    let body = match &d.body {
        None => String::new(),
        Some(istio::HttpBody {
            string: Some(_),
            bytes: Some(_),
        }) => {
            r.error(
                &format!("{field}.body"),
                "body.string and body.bytes are mutually exclusive; rule dropped",
                Some("V-20"),
            );
            return None;
        }
        Some(istio::HttpBody {
            string: Some(s), ..
        }) => s.clone(),
        Some(istio::HttpBody { bytes: Some(b), .. }) => {
            match crate::base64::decode(b)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    String::from_utf8(v)
                        .map_err(|_| "binary bodies are not supported (must be UTF-8)".to_string())
                }) {
                Ok(s) => s,
                Err(e) => {
                    r.error(
                        &format!("{field}.body.bytes"),
                        format!("{e}; rule dropped"),
                        Some("V-20"),
                    );
                    return None;
                }
            }
        }
        Some(_) => String::new(),
    };
    if body.len() > MAX_BODY {
        r.error(
            &format!("{field}.body"),
            "body larger than 1 MiB; rule dropped",
            Some("V-20"),
        );
        return None;
    }
    Some(DirectResponse {
        status: d.status as u16,
        body,
    })
}

fn rewrite_action(r: &mut Reporter<'_>, rw: &istio::HttpRewrite, field: &str) -> Option<Rewrite> {
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

/// V-22: header operations. `:authority`/`host` in `request.set`/`add` are returned as an
/// authority rewrite; pseudo-headers and `host` in `remove` are dropped.
fn header_ops(
    r: &mut Reporter<'_>,
    h: Option<&istio::Headers>,
    field: &str,
    allow_authority: bool,
) -> (HeaderOps, Option<String>) {
    let Some(h) = h else {
        return (HeaderOps::default(), None);
    };
    let mut authority = None;
    let mut convert = |r: &mut Reporter<'_>, ops: Option<&istio::HeaderOperations>, side: &str| {
        let Some(ops) = ops else {
            return HeaderOperations::default();
        };
        let mut out = HeaderOperations::default();
        for (verb, src, dst) in [
            ("set", &ops.set, &mut out.set),
            ("add", &ops.add, &mut out.add),
        ] {
            for (name, value) in src {
                let lower = name.to_ascii_lowercase();
                if side == "request" && (lower == ":authority" || lower == "host") {
                    if allow_authority && authority.is_none() {
                        authority = Some(value.clone());
                    }
                    continue;
                }
                if lower.starts_with(':') {
                    r.warning(
                        &format!("{field}.{side}.{verb}.{name}"),
                        "pseudo-headers cannot be set; ignored",
                        Some("V-22"),
                    );
                    continue;
                }
                dst.insert(lower, value.clone());
            }
        }
        for name in &ops.remove {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with(':') || lower == "host" {
                r.info(
                    &format!("{field}.{side}.remove"),
                    format!("{name} cannot be removed; dropped (as Istio does)"),
                    Some("V-22"),
                );
                continue;
            }
            out.remove.push(lower);
        }
        out
    };
    let request = convert(r, h.request.as_ref(), "request");
    let response = convert(r, h.response.as_ref(), "response");
    (HeaderOps { request, response }, authority)
}

fn percentage(
    r: &mut Reporter<'_>,
    p: Option<&istio::Percent>,
    legacy: Option<u32>,
    field: &str,
    default: Option<f64>,
) -> Option<f64> {
    let value = match (p, legacy) {
        (Some(p), _) => p.value,
        (None, Some(l)) => f64::from(l),
        (None, None) => match default {
            Some(d) => d,
            None => {
                r.warning(
                    &format!("{field}.percentage"),
                    "fault configured but percentage absent: never injected",
                    Some("V-23"),
                );
                0.0
            }
        },
    };
    if !(0.0..=100.0).contains(&value) {
        r.error(
            &format!("{field}.percentage"),
            format!("percentage {value} is not within 0-100; rule dropped"),
            Some("V-23"),
        );
        return None;
    }
    Some(value)
}

fn fault(r: &mut Reporter<'_>, f: &istio::HttpFaultInjection, field: &str) -> Option<Fault> {
    if f.delay.is_none() && f.abort.is_none() {
        r.error(
            field,
            "fault needs delay or abort; rule dropped",
            Some("V-23"),
        );
        return None;
    }
    let delay = match &f.delay {
        None => None,
        Some(d) => {
            let f = format!("{field}.delay");
            let Some(fixed) = &d.fixed_delay else {
                r.error(
                    &format!("{f}.fixedDelay"),
                    "fixedDelay is required; rule dropped",
                    Some("V-23"),
                );
                return None;
            };
            let ms = match parse_ms(fixed) {
                Ok(ms) => ms,
                Err(e) => {
                    r.error(
                        &format!("{f}.fixedDelay"),
                        format!("{e}; rule dropped"),
                        Some("V-23"),
                    );
                    return None;
                }
            };
            Some(FaultDelay {
                fixed_delay_ms: ms,
                percentage: percentage(r, d.percentage.as_ref(), d.percent, &f, None)?,
            })
        }
    };
    let abort = match &f.abort {
        None => None,
        Some(a) => {
            let f = format!("{field}.abort");
            let grpc_status = match &a.grpc_status {
                None => None,
                Some(v) => match grpc_code(v) {
                    Some(c) => Some(c),
                    None => {
                        r.error(
                            &format!("{f}.grpcStatus"),
                            format!("unknown gRPC status {v}; rule dropped"),
                            Some("V-23"),
                        );
                        return None;
                    }
                },
            };
            match (a.http_status, grpc_status) {
                (Some(_), Some(_)) => {
                    r.error(
                        &f,
                        "httpStatus and grpcStatus are mutually exclusive; rule dropped",
                        Some("V-23"),
                    );
                    return None;
                }
                (None, None) => {
                    r.error(
                        &f,
                        "abort needs httpStatus or grpcStatus; rule dropped",
                        Some("V-23"),
                    );
                    return None;
                }
                (Some(s), _) if !(200..=599).contains(&s) => {
                    r.error(
                        &format!("{f}.httpStatus"),
                        format!("status {s} is not within 200-599; rule dropped"),
                        Some("V-23"),
                    );
                    return None;
                }
                _ => {}
            }
            Some(FaultAbort {
                http_status: a.http_status.map(|s| s as u16),
                grpc_status,
                percentage: percentage(r, a.percentage.as_ref(), None, &f, None)?,
            })
        }
    };
    Some(Fault { delay, abort })
}

/// gRPC status by name (`UNAVAILABLE`) or number.
fn grpc_code(v: &serde_json::Value) -> Option<u32> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    match v {
        serde_json::Value::Number(n) => n.as_u64().filter(|n| *n <= 16).map(|n| n as u32),
        serde_json::Value::String(s) => match s.parse::<u32>() {
            Ok(n) if n <= 16 => Some(n),
            Ok(_) => None,
            Err(_) => NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|p| p as u32),
        },
        _ => None,
    }
}

fn mirrors(
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

/// V-24: unset `retries` means the mesh default (2 attempts), except on a rule with a fault,
/// where the API documents retries as disabled; `attempts: 0` disables them.
fn retries(
    r: &mut Reporter<'_>,
    http: &HttpRoute,
    field: &str,
    has_fault: bool,
) -> Option<Option<Retries>> {
    let Some(rt) = &http.retries else {
        return Some((!has_fault).then(|| Retries {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            per_try_timeout_ms: None,
            retry_on: Some(DEFAULT_RETRY_ON.to_string()),
        }));
    };
    if rt.attempts <= 0 {
        return Some(None);
    }
    let per_try_timeout_ms = match &rt.per_try_timeout {
        Some(t) => match parse_ms(t) {
            Ok(ms) => Some(ms).filter(|ms| *ms > 0),
            Err(e) => {
                r.error(
                    &format!("{field}.retries.perTryTimeout"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        },
        None => None,
    };
    Some(Some(Retries {
        attempts: u32::try_from(rt.attempts).unwrap_or(u32::MAX),
        per_try_timeout_ms,
        retry_on: Some(
            rt.retry_on
                .clone()
                .unwrap_or_else(|| DEFAULT_RETRY_ON.to_string()),
        ),
    }))
}

fn cors(r: &mut Reporter<'_>, c: &istio::CorsPolicy, field: &str) -> Option<Cors> {
    let mut allow_origins = Vec::new();
    for (k, o) in c.allow_origins.iter().enumerate() {
        match string_match(o, false) {
            Ok(Some(m)) => allow_origins.push(m),
            Ok(None) => r.warning(
                &format!("{field}.allowOrigins[{k}]"),
                "empty origin match ignored",
                Some("V-24"),
            ),
            Err(e) => {
                r.error(
                    &format!("{field}.allowOrigins[{k}]"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        }
    }
    // The deprecated `allowOrigin` list holds exact origins, `*` meaning any.
    for o in &c.allow_origin {
        allow_origins.push(if o == "*" {
            portcullis_core::config::StringMatch::Regex(".*".into())
        } else {
            portcullis_core::config::StringMatch::Exact(o.clone())
        });
    }
    let max_age_s = match &c.max_age {
        Some(t) => match parse_ms(t) {
            Ok(ms) => Some(ms / 1000),
            Err(e) => {
                r.error(
                    &format!("{field}.maxAge"),
                    format!("{e}; rule dropped"),
                    Some("V-24"),
                );
                return None;
            }
        },
        None => None,
    };
    Some(Cors {
        allow_origins,
        allow_methods: c.allow_methods.clone(),
        allow_headers: c.allow_headers.clone(),
        expose_headers: c.expose_headers.clone(),
        max_age_s,
        allow_credentials: c.allow_credentials,
        ignore_unmatched_preflights: c.unmatched_preflights.as_deref() == Some("IGNORE"),
    })
}
