//! Buffers (bodies, TCP data, callout responses, configurations, foreign-call arguments):
//! `proxy_get_buffer_bytes`, `proxy_get_buffer_status`, `proxy_set_buffer_bytes`.

use wasmtime::{Linker, Result};

use crate::abi::{self, Status};
use crate::state::{Callback, VmData};

use super::{C, ENV, R, copy_out, done, enter_forced, forced, read, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, t: i32, start: i32, max: i32, ptr_ptr: i32, len_ptr: i32| -> R {
            let name = "proxy_get_buffer_bytes";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let (t, start, max) = (t as u32, start as u32, max as u32);
            let detail = format!("type={t} start={start} max={max}");
            if t > abi::buffer::MAX {
                return done(&c, name, detail, Status::BadArgument);
            }
            if start.checked_add(max).is_none() {
                return done(&c, name, detail, Status::BadArgument);
            }
            let Some(buf) = buffer_of(c.data_mut(), t) else {
                return done(&c, name, detail, Status::NotFound);
            };
            let start = (start as usize).min(buf.len());
            let end = (start + max as usize).min(buf.len());
            let bytes = buf[start..end].to_vec();
            // cpp-host: nothing to copy (including start past the end) writes (0, 0).
            let st = copy_out(&mut c, &bytes, ptr_ptr, len_ptr)?;
            done(&c, name, detail, st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_buffer_status",
        |mut c: C<'_>, t: i32, len_ptr: i32, flags_ptr: i32| -> R {
            let name = "proxy_get_buffer_status";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let detail = format!("type={t}");
            if t > abi::buffer::MAX {
                return done(&c, name, detail, Status::BadArgument);
            }
            let Some(len) = buffer_of(c.data_mut(), t).map(|b| b.len()) else {
                return done(&c, name, detail, Status::NotFound);
            };
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, len_ptr, len as u32)
            );
            tri!(&c, name, detail.clone(), write_u32(&mut c, flags_ptr, 0));
            done(&c, name, format!("{detail} len={len}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, t: i32, start: i32, size: i32, ptr: i32, len: i32| -> R {
            let name = "proxy_set_buffer_bytes";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let (t, start, size) = (t as u32, start as u32 as usize, size as u32 as usize);
            let detail = format!("type={t} start={start} size={size}");
            if t > abi::buffer::MAX {
                return done(&c, name, detail, Status::BadArgument);
            }
            let data = tri!(&c, name, detail.clone(), read(&c, ptr, len));
            let Some(buf) = buffer_of(c.data_mut(), t) else {
                return done(&c, name, detail, Status::NotFound);
            };
            if !writable_buffer(t) {
                return done(&c, name, detail, Status::BadArgument);
            }
            // Envoy `Buffer::copyFrom`: at 0 it drains `size` bytes then prepends (so 0/0
            // prepends and 0/len replaces all); at or past the end it appends; anything in
            // between is BAD_ARGUMENT.
            let st = if start == 0 {
                let drained = size.min(buf.len());
                let mut joined = data;
                joined.extend_from_slice(&buf[drained..]);
                *buf = joined;
                Status::Ok
            } else if start >= buf.len() {
                buf.extend_from_slice(&data);
                Status::Ok
            } else {
                Status::BadArgument
            };
            done(&c, name, detail, st)
        },
    )?;
    Ok(())
}

/// Envoy `getBuffer`, restricted to the callbacks in which the buffer exists.
fn buffer_of(d: &mut VmData, t: u32) -> Option<&mut Vec<u8>> {
    use abi::buffer::*;
    let active = d.active;
    match t {
        HTTP_REQUEST_BODY | HTTP_RESPONSE_BODY => {
            let s = d.http.get_mut(&active)?;
            let dir = if t == HTTP_REQUEST_BODY {
                &mut s.request
            } else {
                &mut s.response
            };
            dir.body_open.then_some(&mut dir.body)
        }
        DOWNSTREAM_DATA if d.cb == Callback::DownstreamData => {
            d.tcp.get_mut(&active).map(|s| &mut s.downstream)
        }
        UPSTREAM_DATA if d.cb == Callback::UpstreamData => {
            d.tcp.get_mut(&active).map(|s| &mut s.upstream)
        }
        HTTP_CALL_RESPONSE_BODY => d.call_response.as_mut().map(|r| &mut r.body),
        GRPC_RECEIVE_BUFFER => d.grpc_message.as_mut(),
        VM_CONFIGURATION if d.cb == Callback::VmStart => Some(&mut d.vm_config),
        PLUGIN_CONFIGURATION if d.cb == Callback::Configure => Some(&mut d.plugin_config),
        CALL_DATA if d.cb == Callback::ForeignFunction => Some(&mut d.ffi_args),
        _ => None,
    }
}

fn writable_buffer(t: u32) -> bool {
    use abi::buffer::*;
    matches!(
        t,
        HTTP_REQUEST_BODY | HTTP_RESPONSE_BODY | DOWNSTREAM_DATA | UPSTREAM_DATA
    )
}
