//! Which header map a map type names in the active context and callback (Envoy
//! `getConstMap` / `getMap`), and the route-cache clear a request-header write implies.

use crate::abi;
use crate::module::AbiVersion;
use crate::records::{ClearReason, RouteCacheClear};
use crate::state::{Callback, Pairs, VmData};

use super::C;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

/// Envoy `getConstMap` / `getMap` for the active context.
pub(super) fn with_map<T>(
    d: &mut VmData,
    map_type: u32,
    access: Access,
    f: impl FnOnce(&mut Pairs) -> T,
) -> Option<T> {
    use abi::map::*;
    let cb = d.cb;
    let active = d.active;
    match map_type {
        GRPC_INITIAL_METADATA if access == Access::Read => d.grpc_initial.as_mut().map(f),
        GRPC_TRAILING_METADATA if access == Access::Read => d.grpc_trailing.as_mut().map(f),
        HTTP_CALL_RESPONSE_HEADERS if access == Access::Read => {
            d.call_response.as_mut().map(|r| f(&mut r.headers))
        }
        HTTP_CALL_RESPONSE_TRAILERS if access == Access::Read => {
            d.call_response.as_mut().map(|r| f(&mut r.trailers))
        }
        REQUEST_HEADERS | REQUEST_TRAILERS | RESPONSE_HEADERS | RESPONSE_TRAILERS => {
            let s = d.http.get_mut(&active)?;
            let log = s.log_phase && access == Access::Read;
            let is_req = map_type == REQUEST_HEADERS || map_type == REQUEST_TRAILERS;
            let dir = if is_req {
                &mut s.request
            } else {
                &mut s.response
            };
            if map_type == REQUEST_HEADERS || map_type == RESPONSE_HEADERS {
                if (log && dir.headers_received) || dir.headers_open {
                    return Some(f(&mut dir.headers));
                }
                return None;
            }
            if log && is_req {
                return None;
            }
            if log || dir.trailers_open {
                return dir.trailers.as_mut().map(f);
            }
            // Envoy adds trailers on demand in the last body callback (`addDecodedTrailers`).
            let body_cb = if is_req {
                Callback::RequestBody
            } else {
                Callback::ResponseBody
            };
            if access == Access::Write && cb == body_cb && dir.body_open && dir.end_stream {
                let t = dir.trailers.get_or_insert_with(Vec::new);
                dir.trailers_open = true;
                return Some(f(t));
            }
            None
        }
        _ => None,
    }
}

/// Envoy `onHeadersModified`: on ABI <= 0.2.1 a request-header write clears the route cache.
pub(super) fn headers_modified(c: &C<'_>, map_type: u32) {
    let d = c.data();
    if map_type == abi::map::REQUEST_HEADERS && d.abi <= AbiVersion::V0_2_1 {
        d.world().route_clears.push(RouteCacheClear {
            host: d.host_id,
            worker: d.worker,
            context: d.active,
            reason: ClearReason::HeaderMutation,
        });
    }
}
