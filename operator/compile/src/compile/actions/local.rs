//! Local answers: redirect (V-19) and direct response (V-20).

use portcullis_core::wire::{DerivePort, DirectResponse, Redirect};

use super::super::context::Reporter;
use super::MAX_BODY;
use crate::istio;

pub(super) fn redirect_action(
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
    if rd.prefix_rewrite.is_some() && rd.uri.is_some() {
        r.error(
            &format!("{field}.prefixRewrite"),
            "uri and prefixRewrite are mutually exclusive; rule dropped",
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
        prefix_rewrite: rd.prefix_rewrite.clone(),
        authority: rd.authority.clone(),
        port,
        derive_port,
        scheme: rd.scheme.clone(),
        code: code as u16,
    })
}

pub(super) fn direct_action(
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
    // V-20: a text body travels as text; bytes that are not UTF-8 travel as base64.
    let body: Vec<u8> = match &d.body {
        None => Vec::new(),
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
        }) => s.clone().into_bytes(),
        Some(istio::HttpBody { bytes: Some(b), .. }) => match crate::base64::decode(b) {
            Ok(bytes) => bytes,
            Err(e) => {
                r.error(
                    &format!("{field}.body.bytes"),
                    format!("{e}; rule dropped"),
                    Some("V-20"),
                );
                return None;
            }
        },
        Some(_) => Vec::new(),
    };
    if body.len() > MAX_BODY {
        r.error(
            &format!("{field}.body"),
            "body larger than 1 MiB; rule dropped",
            Some("V-20"),
        );
        return None;
    }
    let (body, body_base64) = match String::from_utf8(body) {
        Ok(text) => (text, None),
        Err(e) => (String::new(), Some(crate::base64::encode(e.as_bytes()))),
    };
    Some(DirectResponse {
        status: d.status as u16,
        body,
        body_base64,
    })
}
