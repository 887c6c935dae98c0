//! Stream and context control: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response`, `proxy_get_status`, `proxy_set_effective_context`,
//! `proxy_done`.

use wasmtime::{Linker, Result};

use crate::abi::{self, Status, deserialize_pairs};
use crate::records::{LocalResponse, ReplySource};
use crate::state::{Deferred, Pairs, VmData};

use super::{C, ENV, R, copy_out, done, enter_forced, forced, read, read_string, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(ENV, "proxy_continue_stream", |mut c: C<'_>, t: i32| -> R {
        defer(&mut c, "proxy_continue_stream", t, |context, stream| {
            Deferred::Continue { context, stream }
        })
    })?;

    linker.func_wrap(ENV, "proxy_close_stream", |mut c: C<'_>, t: i32| -> R {
        defer(&mut c, "proxy_close_stream", t, |context, stream| {
            Deferred::Close { context, stream }
        })
    })?;

    linker.func_wrap(
        ENV,
        "proxy_send_local_response",
        |mut c: C<'_>,
         code: i32,
         dp: i32,
         dl: i32,
         bp: i32,
         bl: i32,
         hp: i32,
         hl: i32,
         grpc: i32|
         -> R {
            let name = "proxy_send_local_response";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let details = tri!(&c, name, String::new(), read_string(&c, dp, dl));
            let body = tri!(&c, name, String::new(), read(&c, bp, bl));
            let hbytes = tri!(&c, name, String::new(), read(&c, hp, hl));
            let headers: Pairs = deserialize_pairs(&hbytes)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let detail = format!("{code} {details}");
            let d = c.data_mut();
            let active = d.active;
            // Envoy runs the reply after the VM call; on a root context it does nothing.
            if let Some(s) = d.http.get_mut(&active) {
                s.pending_local_reply = Some(LocalResponse {
                    status: code as u32,
                    body,
                    headers,
                    // Envoy replaces whitespace in details with underscores.
                    details: details.replace(char::is_whitespace, "_"),
                    grpc_status: (0..=16).contains(&grpc).then_some(grpc as u32),
                    flags: Vec::new(),
                    source: ReplySource::Filter,
                });
            }
            done(&c, name, detail, Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_status",
        |mut c: C<'_>, code_ptr: i32, msg_pp: i32, msg_lp: i32| -> R {
            let name = "proxy_get_status";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            // cpp-host reads the root context's status: always OK, the message is empty
            // outside on_http_call_response / on_grpc_close.
            let (code, msg) = c
                .data()
                .status
                .clone()
                .unwrap_or((c.data().last_status_code, String::new()));
            tri!(&c, name, String::new(), write_u32(&mut c, code_ptr, code));
            let st = copy_out(&mut c, msg.as_bytes(), msg_pp, msg_lp)?;
            done(&c, name, format!("{code} {msg}"), st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_effective_context",
        |mut c: C<'_>, id: i32| -> R {
            let name = "proxy_set_effective_context";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let id = id as u32;
            let d = c.data_mut();
            if !d.contexts.contains_key(&id) {
                return done(&c, name, format!("id={id}"), Status::BadArgument);
            }
            d.active = id;
            done(&c, name, format!("id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(ENV, "proxy_done", |mut c: C<'_>| -> R {
        let name = "proxy_done";
        if let Some(code) = enter_forced(&c, name)? {
            return forced(&c, name, code);
        }
        let d = c.data_mut();
        let ctx = d.active;
        // cpp-host `WasmBase::done`: only a context whose on_done returned false may finish.
        if !d.pending_done.contains(&ctx) {
            return done(&c, name, format!("context={ctx}"), Status::NotFound);
        }
        d.deferred.push(Deferred::Done { context: ctx });
        done(&c, name, format!("context={ctx}"), Status::Ok)
    })?;
    Ok(())
}

/// `proxy_continue_stream` / `proxy_close_stream` on the active context, deferred until the
/// current callback returns: resuming is not re-entrant.
fn defer(c: &mut C<'_>, name: &'static str, t: i32, action: fn(u32, u32) -> Deferred) -> R {
    if let Some(code) = enter_forced(c, name)? {
        return forced(c, name, code);
    }
    let t = t as u32;
    if t > abi::stream::UPSTREAM {
        return done(c, name, format!("type={t}"), Status::BadArgument);
    }
    let d = c.data_mut();
    d.deferred.push(action(d.active, t));
    done(c, name, format!("type={t}"), Status::Ok)
}
