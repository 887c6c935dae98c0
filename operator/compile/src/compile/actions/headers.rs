//! Header operations (V-22).

use portcullis_core::contract::is_reserved_header;
use portcullis_core::wire::{HeaderOperations, HeaderOperationsPair};

use super::super::context::Reporter;
use crate::istio;

/// V-22: header operations. `:authority`/`host` in `request.set`/`add` are returned as an
/// authority rewrite; pseudo-headers and `host` in `remove` are dropped. S-8: an operation on
/// the cluster header or an `x-envoy-*` control header is an error, and the operation dropped.
pub(super) fn header_ops(
    r: &mut Reporter<'_>,
    h: Option<&istio::Headers>,
    field: &str,
    allow_authority: bool,
) -> (HeaderOperationsPair, Option<String>) {
    let Some(h) = h else {
        return (HeaderOperationsPair::default(), None);
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
                if is_reserved_header(&lower) {
                    reserved(r, &format!("{field}.{side}.{verb}.{name}"), name);
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
            if is_reserved_header(&lower) {
                reserved(r, &format!("{field}.{side}.remove"), name);
                continue;
            }
            out.remove.push(lower);
        }
        out
    };
    let request = convert(r, h.request.as_ref(), "request");
    let response = convert(r, h.response.as_ref(), "response");
    (HeaderOperationsPair { request, response }, authority)
}

/// S-8: the router applies these operations before Envoy's router reads the request, so the
/// cluster header or an Envoy control header would steer routing; Istio applies them as route
/// header mutations, which never do.
fn reserved(r: &mut Reporter<'_>, field: &str, name: &str) {
    r.dropped(
        field,
        format!(
            "header {name} is reserved: the cluster header and x-envoy-* control headers decide \
             the upstream cluster, timeout and retries, and configuration cannot set, add or \
             remove them; operation dropped"
        ),
        Some("S-8"),
    );
}
