//! gRPC callouts: `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`,
//! `proxy_grpc_cancel`, `proxy_grpc_close`.

use wasmtime::{Linker, Result};

use crate::abi::{Status, deserialize_pairs};
use crate::records::GrpcCallout;
use crate::state::VmData;

use super::{C, ENV, R, done, enter_forced, forced, read, read_string, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_grpc_call",
        |mut c: C<'_>,
         up: i32,
         ul: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         mdp: i32,
         mdl: i32,
         msgp: i32,
         msgl: i32,
         timeout: i32,
         token_ptr: i32|
         -> R {
            let name = "proxy_grpc_call";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let cluster = tri!(&c, name, String::new(), read_string(&c, up, ul));
            let service = tri!(&c, name, String::new(), read_string(&c, sp, sl));
            let method = tri!(&c, name, String::new(), read_string(&c, mp, ml));
            let md = tri!(&c, name, String::new(), read(&c, mdp, mdl));
            let msg = tri!(&c, name, String::new(), read(&c, msgp, msgl));
            let detail = format!("cluster={cluster} {service}/{method}");
            let token = tri!(
                &c,
                name,
                detail.clone(),
                start_grpc(&c, cluster, service, method, md, Some(msg), timeout as u32)
            );
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, token_ptr, token)
            );
            done(&c, name, format!("{detail} token={token}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_grpc_stream",
        |mut c: C<'_>,
         up: i32,
         ul: i32,
         sp: i32,
         sl: i32,
         mp: i32,
         ml: i32,
         mdp: i32,
         mdl: i32,
         token_ptr: i32|
         -> R {
            let name = "proxy_grpc_stream";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let cluster = tri!(&c, name, String::new(), read_string(&c, up, ul));
            let service = tri!(&c, name, String::new(), read_string(&c, sp, sl));
            let method = tri!(&c, name, String::new(), read_string(&c, mp, ml));
            let md = tri!(&c, name, String::new(), read(&c, mdp, mdl));
            let detail = format!("cluster={cluster} {service}/{method}");
            let token = tri!(
                &c,
                name,
                detail.clone(),
                start_grpc(&c, cluster, service, method, md, None, 0)
            );
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, token_ptr, token)
            );
            done(&c, name, format!("{detail} token={token}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_grpc_send",
        |c: C<'_>, token: i32, mp: i32, ml: i32, eos: i32| -> R {
            let name = "proxy_grpc_send";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let token = token as u32;
            let msg = tri!(&c, name, String::new(), read(&c, mp, ml));
            let detail = format!("token={token} len={} eos={eos}", msg.len());
            // Odd tokens are calls, even tokens streams (cpp-host `isGrpcStreamId`).
            if token % 2 == 1 {
                return done(&c, name, detail, Status::BadArgument);
            }
            let st = {
                let mut w = c.data().world();
                match w.grpc.get_mut(&token) {
                    Some(g) if !g.cancelled => {
                        g.messages.push(msg);
                        if eos != 0 {
                            g.local_closed = true;
                        }
                        Status::Ok
                    }
                    _ => Status::NotFound,
                }
            };
            done(&c, name, detail, st)
        },
    )?;

    for (fname, close) in [("proxy_grpc_cancel", false), ("proxy_grpc_close", true)] {
        linker.func_wrap(ENV, fname, move |c: C<'_>, token: i32| -> R {
            let name: &'static str = if close {
                "proxy_grpc_close"
            } else {
                "proxy_grpc_cancel"
            };
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let token = token as u32;
            let st = {
                let mut w = c.data().world();
                match w.grpc.get_mut(&token) {
                    Some(g) if !g.cancelled => {
                        if close && g.is_stream {
                            g.local_closed = true;
                        } else {
                            g.cancelled = true;
                        }
                        Status::Ok
                    }
                    _ => Status::NotFound,
                }
            };
            done(&c, name, format!("token={token}"), st)
        })?;
    }
    Ok(())
}

fn start_grpc(
    c: &C<'_>,
    cluster: String,
    service: String,
    method: String,
    md: Vec<u8>,
    message: Option<Vec<u8>>,
    timeout_ms: u32,
) -> Result<u32, Status> {
    let d = c.data();
    let mut w = d.world();
    // Envoy: an upstream that is neither a GrpcService proto nor a known cluster is a
    // PARSE_FAILURE (kept for ABI 0.1 compatibility).
    if !w.knows_cluster(&cluster) {
        return Err(Status::ParseFailure);
    }
    let is_stream = message.is_none();
    let token = if is_stream {
        let t = w.next_grpc_stream;
        w.next_grpc_stream += 2;
        t
    } else {
        let t = w.next_grpc_call;
        w.next_grpc_call += 2;
        t
    };
    let now = w.now_ms();
    let deadline_ms = (!is_stream && timeout_ms > 0).then(|| now + u64::from(timeout_ms));
    w.grpc.insert(
        token,
        GrpcCallout {
            token,
            host: d.host_id,
            worker: d.worker,
            context: d.root_of(d.active),
            cluster,
            service,
            method,
            initial_metadata: deserialize_pairs(&md).unwrap_or_default(),
            messages: message.into_iter().collect(),
            is_stream,
            timeout_ms,
            deadline_ms,
            local_closed: false,
            cancelled: false,
        },
    );
    Ok(token)
}
