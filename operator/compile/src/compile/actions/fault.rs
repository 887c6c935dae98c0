//! Fault injection (V-23).

use portcullis_core::wire::{Fault, FaultAbort, FaultDelay};

use super::super::context::Reporter;
use super::super::duration::parse_ms;
use crate::istio;

pub(super) fn percentage(
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

pub(super) fn fault(
    r: &mut Reporter<'_>,
    f: &istio::HttpFaultInjection,
    field: &str,
) -> Option<Fault> {
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
pub(super) fn grpc_code(v: &serde_json::Value) -> Option<u32> {
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
