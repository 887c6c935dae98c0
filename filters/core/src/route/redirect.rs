//! The `Location` of a route redirect (V-19) and of an `httpsRedirect` (G-7), built the way
//! Envoy's router builds it.

use crate::RequestView;
use crate::host::strip_port;
use crate::wire::{DerivePort, Redirect};

use super::matcher::UriKind;
use super::rewrite::PathRewrite;

/// The `Location` for a route redirect. `listener_port` is the Gateway server port as written
/// (G-13), which `FROM_REQUEST_PORT` uses; `matched` is what the route's `uri` condition
/// matched, which `prefixRewrite` replaces.
pub fn location(
    r: &Redirect,
    req: &RequestView<'_>,
    listener_port: u16,
    matched: UriKind,
) -> String {
    let scheme = r.scheme.as_deref().unwrap_or(req.scheme);
    // Istio turns FROM_REQUEST_PORT into a port redirect only when the listener port is not the
    // scheme's default, so `b:80` stays `b:80` and `b` stays `b` on port 80 (V-19 examples).
    let port = r.port.or(match r.derive_port {
        Some(DerivePort::FromRequestPort) if !is_default_port(scheme, listener_port) => {
            Some(listener_port)
        }
        _ => None,
    });
    let host = match &r.authority {
        Some(a) => a.as_str(),
        None => request_host(req, scheme, port.is_some()),
    };
    let raw = raw_path(req.path);
    if let Some(prefix) = &r.prefix_rewrite {
        // Envoy's redirect `prefix_rewrite`: the matched part swapped, the rest and the query
        // kept as they came.
        let path = raw.split_once('?').map_or(raw, |(p, _)| p);
        let new = PathRewrite::Prefix(prefix.as_str().into()).apply(raw, path, matched);
        return assemble(scheme, host, port, &new, "");
    }
    let path = match &r.uri {
        // Envoy's `path_redirect`: a query in the new path replaces the request's.
        Some(uri) if uri.contains('?') => uri.as_str(),
        Some(uri) => {
            let query = raw.split_once('?').map_or("", |(_, q)| q);
            return assemble(scheme, host, port, uri, query);
        }
        None => raw,
    };
    assemble(scheme, host, port, path, "")
}

/// The `Location` of a `require_tls` / `httpsRedirect` answer (G-7): the Host as received and
/// the whole path with its query.
pub fn https_location(req: &RequestView<'_>) -> String {
    let raw = raw_path(req.path);
    let mut out = String::with_capacity(8 + req.authority.len() + raw.len());
    out.push_str("https://");
    out.push_str(req.authority);
    out.push_str(raw);
    out
}

/// `:path` without a fragment (Envoy strips it before routing, S-1).
fn raw_path(path: &str) -> &str {
    path.split_once('#').map_or(path, |(p, _)| p)
}

fn is_default_port(scheme: &str, port: u16) -> bool {
    (port == 80 && scheme.eq_ignore_ascii_case("http"))
        || (port == 443 && scheme.eq_ignore_ascii_case("https"))
}

/// Envoy's `processRequestHost`: the Host as received, without its port when a new port is
/// set, or when the scheme changes and the port was the old scheme's default.
fn request_host<'r>(req: &RequestView<'r>, new_scheme: &str, new_port: bool) -> &'r str {
    let host = strip_port(req.authority);
    if host.len() == req.authority.len() {
        return req.authority;
    }
    let port = &req.authority[host.len() + 1..];
    let scheme_changes = !new_scheme.eq_ignore_ascii_case(req.scheme);
    let old_default = port
        .parse::<u16>()
        .is_ok_and(|p| is_default_port(req.scheme, p));
    if new_port || (scheme_changes && old_default) {
        host
    } else {
        req.authority
    }
}

fn assemble(scheme: &str, host: &str, port: Option<u16>, path: &str, query: &str) -> String {
    let mut out = String::with_capacity(scheme.len() + host.len() + path.len() + query.len() + 12);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p.to_string());
    }
    out.push_str(path);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}
