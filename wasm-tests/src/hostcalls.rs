//! The 39 `env.proxy_*` imports of ABI v0.2.1, plus the two `env` helpers Envoy registers.
//!
//! Each function follows cpp-host `src/exports.cc` and Envoy `source/extensions/common/wasm/
//! context.cc`: the notes in each comment name the behaviour reproduced.

use wasmtime::{Caller, Linker};
use wasmtime::{Result, bail, format_err};

use crate::abi::{self, LogLevel, Status, deserialize_pairs, serialize_pairs};
use crate::module::AbiVersion;
use crate::properties;
use crate::records::*;
use crate::state::{Callback, Deferred, Notify, Pairs, Queue, VmData};

pub(crate) type C<'a> = Caller<'a, VmData>;
type R = Result<i32>;

// === memory helpers ===

pub(crate) fn read(c: &C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let mut buf = vec![0u8; len as u32 as usize];
    mem.read(c, ptr as u32 as usize, &mut buf)
        .map_err(|_| Status::InvalidMemoryAccess)?;
    Ok(buf)
}

pub(crate) fn read_string(c: &C<'_>, ptr: i32, len: i32) -> Result<String, Status> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

pub(crate) fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    mem.write(c, ptr as u32 as usize, bytes)
        .map_err(|_| Status::InvalidMemoryAccess)
}

pub(crate) fn write_u32(c: &mut C<'_>, ptr: i32, v: u32) -> Result<(), Status> {
    write(c, ptr, &v.to_le_bytes())
}

pub(crate) fn write_u64(c: &mut C<'_>, ptr: i32, v: u64) -> Result<(), Status> {
    write(c, ptr, &v.to_le_bytes())
}

/// cpp-host `copyToPointerSize`: allocates guest memory through `proxy_on_memory_allocate`
/// (or `malloc`), copies, writes pointer and size. Empty data writes (0, 0).
pub(crate) fn copy_out(c: &mut C<'_>, bytes: &[u8], ptr_ptr: i32, len_ptr: i32) -> Result<Status> {
    let mut ptr = 0u32;
    if !bytes.is_empty() {
        let alloc = c
            .get_export("proxy_on_memory_allocate")
            .or_else(|| c.get_export("malloc"))
            .and_then(|e| e.into_func())
            .ok_or_else(|| {
                format_err!("module exports neither proxy_on_memory_allocate nor malloc")
            })?;
        let alloc = alloc.typed::<i32, i32>(&*c)?;
        ptr = alloc.call(&mut *c, bytes.len() as i32)? as u32;
        if ptr == 0 {
            return Ok(Status::InvalidMemoryAccess);
        }
        if let Err(s) = write(c, ptr as i32, bytes) {
            return Ok(s);
        }
    }
    if let Err(s) =
        write_u32(c, ptr_ptr, ptr).and_then(|_| write_u32(c, len_ptr, bytes.len() as u32))
    {
        return Ok(s);
    }
    Ok(Status::Ok)
}

// === tracing and strict mode ===

pub(crate) fn enter(c: &C<'_>, name: &'static str) -> Result<()> {
    let mut w = c.data().world();
    if let Some(allowed) = &w.strict
        && !allowed.iter().any(|a| a == name)
    {
        let msg = format!(
            "strict mode: host call {name} not allowed (worker {}, context {}, callback {:?})",
            c.data().worker,
            c.data().active,
            c.data().cb
        );
        w.violations.push(msg.clone());
        bail!(msg);
    }
    Ok(())
}

fn done(c: &C<'_>, name: &'static str, detail: String, st: Status) -> R {
    let d = c.data();
    d.world().trace.push(HostCall {
        worker: d.worker,
        context: d.active,
        name,
        detail,
        status: st.code(),
    });
    Ok(st.code() as i32)
}

macro_rules! tri {
    ($c:expr, $name:expr, $detail:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(st) => return done($c, $name, $detail, st),
        }
    };
}

// === maps ===

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Envoy `getConstMap` / `getMap` for the active context.
fn with_map<T>(
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
fn headers_modified(c: &C<'_>, map_type: u32) {
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

// === buffers ===

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

// === registration ===

pub(crate) fn add_to_linker(linker: &mut Linker<VmData>, abi_version: AbiVersion) -> Result<()> {
    let env = "env";

    linker.func_wrap(
        env,
        "proxy_log",
        |c: C<'_>, level: i32, ptr: i32, len: i32| -> R {
            enter(&c, "proxy_log")?;
            let msg = tri!(&c, "proxy_log", String::new(), read_string(&c, ptr, len));
            let Some(level) = LogLevel::from_code(level as u32) else {
                return done(&c, "proxy_log", msg, Status::BadArgument);
            };
            log(c.data(), level, msg.clone());
            done(&c, "proxy_log", format!("{level:?} {msg}"), Status::Ok)
        },
    )?;

    if abi_version >= AbiVersion::V0_2_1 {
        linker.func_wrap(env, "proxy_get_log_level", |mut c: C<'_>, ptr: i32| -> R {
            enter(&c, "proxy_get_log_level")?;
            let level = c.data().world().log_level as u32;
            tri!(
                &c,
                "proxy_get_log_level",
                String::new(),
                write_u32(&mut c, ptr, level)
            );
            done(&c, "proxy_get_log_level", format!("{level}"), Status::Ok)
        })?;
    }

    linker.func_wrap(
        env,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ptr: i32| -> R {
            let name = "proxy_get_current_time_nanoseconds";
            enter(&c, name)?;
            let now = c.data().world().now_ns();
            tri!(&c, name, String::new(), write_u64(&mut c, ptr, now));
            done(&c, name, format!("{now}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, ms: i32| -> R {
            let name = "proxy_set_tick_period_milliseconds";
            enter(&c, name)?;
            let ms = ms as u32 as u64;
            let now = c.data().world().now_ms();
            let d = c.data_mut();
            // Envoy applies the period to the root context even when called from a stream.
            let root = d.root_of(d.active);
            if ms == 0 {
                d.ticks.remove(&root);
            } else {
                d.ticks.insert(root, (ms, now + ms));
            }
            done(&c, name, format!("{ms}ms root={root}"), Status::Ok)
        },
    )?;

    // --- buffers ---

    linker.func_wrap(
        env,
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, t: i32, start: i32, max: i32, ptr_ptr: i32, len_ptr: i32| -> R {
            let name = "proxy_get_buffer_bytes";
            enter(&c, name)?;
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
        env,
        "proxy_get_buffer_status",
        |mut c: C<'_>, t: i32, len_ptr: i32, flags_ptr: i32| -> R {
            let name = "proxy_get_buffer_status";
            enter(&c, name)?;
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
        env,
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, t: i32, start: i32, size: i32, ptr: i32, len: i32| -> R {
            let name = "proxy_set_buffer_bytes";
            enter(&c, name)?;
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

    // --- header maps ---

    linker.func_wrap(
        env,
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, t: i32, ptr_ptr: i32, len_ptr: i32| -> R {
            let name = "proxy_get_header_map_pairs";
            enter(&c, name)?;
            let t = t as u32;
            if t > abi::map::HTTP_CALL_RESPONSE_TRAILERS {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            }
            // Envoy returns an empty map (size 0) when the map is not available.
            let pairs = with_map(c.data_mut(), t, Access::Read, |m| m.clone()).unwrap_or_default();
            let bytes = serialize_pairs(&pairs);
            let st = copy_out(&mut c, &bytes, ptr_ptr, len_ptr)?;
            done(&c, name, format!("type={t} pairs={}", pairs.len()), st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, t: i32, ptr: i32, len: i32| -> R {
            let name = "proxy_set_header_map_pairs";
            enter(&c, name)?;
            let t = t as u32;
            let bytes = tri!(&c, name, format!("type={t}"), read(&c, ptr, len));
            if t > abi::map::HTTP_CALL_RESPONSE_TRAILERS {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            }
            // cpp-host `PairsUtil::toPairs`: malformed or over-limit input reads as no pairs.
            let pairs = deserialize_pairs(&bytes).unwrap_or_default();
            let lowered: Pairs = pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let detail = format!("type={t} {lowered:?}");
            if with_map(c.data_mut(), t, Access::Write, |m| *m = lowered).is_none() {
                return done(&c, name, detail, Status::BadArgument);
            }
            headers_modified(&c, t);
            done(&c, name, detail, Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_get_header_map_size",
        |mut c: C<'_>, t: i32, ptr: i32| -> R {
            let name = "proxy_get_header_map_size";
            enter(&c, name)?;
            let t = t as u32;
            // Envoy `byteSize()`: the sum of key and value lengths.
            let size = with_map(c.data_mut(), t, Access::Write, |m| {
                m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            });
            let Some(size) = size else {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            };
            tri!(&c, name, String::new(), write_u32(&mut c, ptr, size as u32));
            done(&c, name, format!("type={t} size={size}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_get_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_get_header_map_value";
            enter(&c, name)?;
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let detail = format!("type={t} key={key}");
            let log_phase = {
                let d = c.data();
                d.http.get(&d.active).is_some_and(|s| s.log_phase)
            };
            let found = with_map(c.data_mut(), t, Access::Read, |m| {
                m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
            });
            match found {
                // Map not available: NOT_FOUND in the access-log phase, else BAD_ARGUMENT.
                None if log_phase => done(&c, name, detail, Status::NotFound),
                None => done(&c, name, detail, Status::BadArgument),
                Some(None) => done(&c, name, detail, Status::NotFound),
                Some(Some(v)) => {
                    let st = copy_out(&mut c, &crate::abi::value_bytes(&v), vpp, vlp)?;
                    done(&c, name, format!("{detail} value={v}"), st)
                }
            }
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_add_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_add_header_map_value";
            enter(&c, name)?;
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let value = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let detail = format!("type={t} {key}: {value}");
            if with_map(c.data_mut(), t, Access::Write, |m| m.push((key, value))).is_none() {
                return done(&c, name, detail, Status::BadArgument);
            }
            headers_modified(&c, t);
            done(&c, name, detail, Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_replace_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_replace_header_map_value";
            enter(&c, name)?;
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let value = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let detail = format!("type={t} {key}: {value}");
            // Envoy `setCopy`: the first entry takes the value, later duplicates go; absent adds.
            let ok = with_map(c.data_mut(), t, Access::Write, |m| {
                match m.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        m[i].1 = value;
                        let mut seen = 0;
                        m.retain(|(k, _)| {
                            if *k == key {
                                seen += 1;
                                seen == 1
                            } else {
                                true
                            }
                        });
                    }
                    None => m.push((key, value)),
                }
            });
            if ok.is_none() {
                return done(&c, name, detail, Status::BadArgument);
            }
            headers_modified(&c, t);
            done(&c, name, detail, Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_remove_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32| -> R {
            let name = "proxy_remove_header_map_value";
            enter(&c, name)?;
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let detail = format!("type={t} key={key}");
            // Removing an absent key is OK.
            if with_map(c.data_mut(), t, Access::Write, |m| {
                m.retain(|(k, _)| *k != key)
            })
            .is_none()
            {
                return done(&c, name, detail, Status::BadArgument);
            }
            headers_modified(&c, t);
            done(&c, name, detail, Status::Ok)
        },
    )?;

    // --- streams ---

    linker.func_wrap(env, "proxy_continue_stream", |mut c: C<'_>, t: i32| -> R {
        let name = "proxy_continue_stream";
        enter(&c, name)?;
        let t = t as u32;
        if t > abi::stream::UPSTREAM {
            return done(&c, name, format!("type={t}"), Status::BadArgument);
        }
        let d = c.data_mut();
        // Deferred until the current callback returns: resuming is not re-entrant.
        d.deferred.push(Deferred::Continue {
            context: d.active,
            stream: t,
        });
        done(&c, name, format!("type={t}"), Status::Ok)
    })?;

    linker.func_wrap(env, "proxy_close_stream", |mut c: C<'_>, t: i32| -> R {
        let name = "proxy_close_stream";
        enter(&c, name)?;
        let t = t as u32;
        if t > abi::stream::UPSTREAM {
            return done(&c, name, format!("type={t}"), Status::BadArgument);
        }
        let d = c.data_mut();
        d.deferred.push(Deferred::Close {
            context: d.active,
            stream: t,
        });
        done(&c, name, format!("type={t}"), Status::Ok)
    })?;

    linker.func_wrap(
        env,
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
            enter(&c, name)?;
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
        env,
        "proxy_get_status",
        |mut c: C<'_>, code_ptr: i32, msg_pp: i32, msg_lp: i32| -> R {
            let name = "proxy_get_status";
            enter(&c, name)?;
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

    // --- HTTP callouts ---

    linker.func_wrap(
        env,
        "proxy_http_call",
        |mut c: C<'_>,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         token_ptr: i32|
         -> R {
            let name = "proxy_http_call";
            enter(&c, name)?;
            let cluster = tri!(&c, name, String::new(), read_string(&c, up, ul));
            let headers = tri!(&c, name, cluster.clone(), read(&c, hp, hl));
            let body = tri!(&c, name, cluster.clone(), read(&c, bp, bl));
            let trailers = tri!(&c, name, cluster.clone(), read(&c, tp, tl));
            let headers: Pairs = deserialize_pairs(&headers)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let trailers = deserialize_pairs(&trailers).unwrap_or_default();
            let detail = format!("cluster={cluster} headers={headers:?} timeout={timeout}");
            if timeout < 0 {
                return done(&c, name, detail, Status::BadArgument);
            }
            let has = |h: &str| headers.iter().any(|(k, _)| k == h);
            let token = {
                let d = c.data();
                let mut w = d.world();
                if !w.knows_cluster(&cluster) {
                    drop(w);
                    return done(&c, name, detail, Status::BadArgument);
                }
                // Envoy requires :path, :method and :authority (Host).
                if !(has(":path") && has(":method") && (has(":authority") || has("host"))) {
                    drop(w);
                    return done(&c, name, detail, Status::BadArgument);
                }
                w.next_http_token += 1;
                let token = w.next_http_token;
                let deadline_ms = (timeout > 0).then(|| w.now_ms() + timeout as u64);
                w.callouts.insert(
                    token,
                    HttpCallout {
                        token,
                        host: d.host_id,
                        worker: d.worker,
                        // cpp-host runs callouts on the root context.
                        context: d.root_of(d.active),
                        cluster,
                        headers,
                        body,
                        trailers,
                        timeout_ms: timeout as u32,
                        deadline_ms,
                    },
                );
                token
            };
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, token_ptr, token)
            );
            done(&c, name, format!("{detail} token={token}"), Status::Ok)
        },
    )?;

    // --- gRPC ---

    linker.func_wrap(
        env,
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
            enter(&c, name)?;
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
        env,
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
            enter(&c, name)?;
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
        env,
        "proxy_grpc_send",
        |c: C<'_>, token: i32, mp: i32, ml: i32, eos: i32| -> R {
            let name = "proxy_grpc_send";
            enter(&c, name)?;
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
        linker.func_wrap(env, fname, move |c: C<'_>, token: i32| -> R {
            let name: &'static str = if close {
                "proxy_grpc_close"
            } else {
                "proxy_grpc_cancel"
            };
            enter(&c, name)?;
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

    // --- shared data ---

    linker.func_wrap(
        env,
        "proxy_set_shared_data",
        |c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> R {
            let name = "proxy_set_shared_data";
            enter(&c, name)?;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl));
            let value = tri!(&c, name, key.clone(), read(&c, vp, vl));
            let cas = cas as u32;
            let detail = format!("key={key} cas={cas}");
            let st = {
                let d = c.data();
                let mut w = d.world();
                let k = (d.vm_id.clone(), key);
                // cpp-host `SharedData::set`: cas 0 is unconditional; a mismatch is refused.
                match w.shared_data.get(&k) {
                    Some((_, cur)) if cas != 0 && cas != *cur => Status::CasMismatch,
                    _ => {
                        w.next_cas = w.next_cas.wrapping_add(1);
                        if w.next_cas == 0 {
                            w.next_cas = 1;
                        }
                        let new = w.next_cas;
                        w.shared_data.insert(k, (value, new));
                        Status::Ok
                    }
                }
            };
            done(&c, name, detail, st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_get_shared_data",
        |mut c: C<'_>, kp: i32, kl: i32, vpp: i32, vlp: i32, cas_ptr: i32| -> R {
            let name = "proxy_get_shared_data";
            enter(&c, name)?;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl));
            let found = {
                let d = c.data();
                d.world()
                    .shared_data
                    .get(&(d.vm_id.clone(), key.clone()))
                    .cloned()
            };
            let Some((value, cas)) = found else {
                return done(&c, name, format!("key={key}"), Status::NotFound);
            };
            let st = copy_out(&mut c, &value, vpp, vlp)?;
            if st != Status::Ok {
                return done(&c, name, format!("key={key}"), st);
            }
            tri!(&c, name, key.clone(), write_u32(&mut c, cas_ptr, cas));
            done(&c, name, format!("key={key} cas={cas}"), Status::Ok)
        },
    )?;

    // --- shared queues ---

    linker.func_wrap(
        env,
        "proxy_register_shared_queue",
        |mut c: C<'_>, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_register_shared_queue";
            enter(&c, name)?;
            let qname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let id = {
                let d = c.data();
                let root = d.root_of(d.active);
                let mut w = d.world();
                match w
                    .queues
                    .iter()
                    .position(|q| q.vm_id == d.vm_id && q.name == qname)
                {
                    // cpp-host `registerQueue`: the latest registrant receives on_queue_ready;
                    // queued data is kept.
                    Some(i) => {
                        let q = &mut w.queues[i];
                        q.host = d.host_id;
                        q.worker = d.worker;
                        q.root_context = root;
                        i as u32 + 1
                    }
                    None => {
                        w.queues.push(Queue {
                            host: d.host_id,
                            vm_id: d.vm_id.clone(),
                            name: qname.clone(),
                            worker: d.worker,
                            root_context: root,
                            items: Default::default(),
                        });
                        w.queues.len() as u32
                    }
                }
            };
            tri!(&c, name, qname.clone(), write_u32(&mut c, id_ptr, id));
            done(&c, name, format!("{qname} id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, vp: i32, vl: i32, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_resolve_shared_queue";
            enter(&c, name)?;
            let vm_id = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let qname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let detail = format!("vm_id={vm_id} name={qname}");
            let found = {
                let w = c.data().world();
                w.queues
                    .iter()
                    .position(|q| q.vm_id == vm_id && q.name == qname)
            };
            let Some(i) = found else {
                return done(&c, name, detail, Status::NotFound);
            };
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, id_ptr, i as u32 + 1)
            );
            done(&c, name, format!("{detail} id={}", i + 1), Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_enqueue_shared_queue",
        |c: C<'_>, id: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_enqueue_shared_queue";
            enter(&c, name)?;
            let id = id as u32;
            let value = tri!(&c, name, String::new(), read(&c, vp, vl));
            let st = {
                let mut w = c.data().world();
                let idx = (id as usize).wrapping_sub(1);
                match w.queues.get_mut(idx) {
                    None => Status::NotFound,
                    Some(q) => {
                        q.items.push_back(value);
                        let n = Notify::QueueReady {
                            host: q.host,
                            worker: q.worker,
                            root_context: q.root_context,
                            queue_id: id,
                        };
                        w.notify.push(n);
                        Status::Ok
                    }
                }
            };
            done(&c, name, format!("id={id}"), st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_dequeue_shared_queue";
            enter(&c, name)?;
            let id = id as u32;
            let item = {
                let mut w = c.data().world();
                let idx = (id as usize).wrapping_sub(1);
                match w.queues.get_mut(idx) {
                    None => Err(Status::NotFound),
                    Some(q) => q.items.pop_front().ok_or(Status::Empty),
                }
            };
            let item = tri!(&c, name, format!("id={id}"), item);
            let st = copy_out(&mut c, &item, vpp, vlp)?;
            done(&c, name, format!("id={id} len={}", item.len()), st)
        },
    )?;

    // --- metrics ---

    linker.func_wrap(
        env,
        "proxy_define_metric",
        |mut c: C<'_>, t: i32, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_define_metric";
            enter(&c, name)?;
            let mname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let kind = match t as u32 {
                abi::metric::COUNTER => MetricKind::Counter,
                abi::metric::GAUGE => MetricKind::Gauge,
                abi::metric::HISTOGRAM => MetricKind::Histogram,
                _ => return done(&c, name, mname, Status::BadArgument),
            };
            let id = {
                let mut w = c.data().world();
                match w
                    .metrics
                    .iter()
                    .position(|m| m.name == mname && m.kind == kind)
                {
                    Some(i) => i as u32 + 1,
                    None => {
                        w.metrics.push(Metric {
                            name: mname.clone(),
                            kind,
                            value: 0,
                            samples: Vec::new(),
                        });
                        w.metrics.len() as u32
                    }
                }
            };
            tri!(&c, name, mname.clone(), write_u32(&mut c, id_ptr, id));
            done(&c, name, format!("{kind:?} {mname} id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_increment_metric",
        |c: C<'_>, id: i32, delta: i64| -> R {
            let name = "proxy_increment_metric";
            enter(&c, name)?;
            let st = {
                let mut w = c.data().world();
                match w.metrics.get_mut((id as u32 as usize).wrapping_sub(1)) {
                    None => Status::NotFound,
                    Some(m) => match m.kind {
                        // Envoy: a counter only takes a positive offset.
                        MetricKind::Counter if delta <= 0 => Status::BadArgument,
                        MetricKind::Counter | MetricKind::Gauge => {
                            m.value = m.value.saturating_add(delta);
                            Status::Ok
                        }
                        MetricKind::Histogram => Status::BadArgument,
                    },
                }
            };
            done(&c, name, format!("id={id} delta={delta}"), st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_record_metric",
        |c: C<'_>, id: i32, value: i64| -> R {
            let name = "proxy_record_metric";
            enter(&c, name)?;
            let value = value as u64;
            let st = {
                let mut w = c.data().world();
                match w.metrics.get_mut((id as u32 as usize).wrapping_sub(1)) {
                    None => Status::NotFound,
                    Some(m) => {
                        match m.kind {
                            // Envoy: a counter is added to, a gauge set, a histogram sampled.
                            MetricKind::Counter => m.value = m.value.saturating_add(value as i64),
                            MetricKind::Gauge => m.value = value as i64,
                            MetricKind::Histogram => m.samples.push(value),
                        }
                        Status::Ok
                    }
                }
            };
            done(&c, name, format!("id={id} value={value}"), st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_get_metric",
        |mut c: C<'_>, id: i32, ptr: i32| -> R {
            let name = "proxy_get_metric";
            enter(&c, name)?;
            let value = {
                let w = c.data().world();
                match w.metrics.get((id as u32 as usize).wrapping_sub(1)) {
                    None => Err(Status::NotFound),
                    Some(m) if m.kind == MetricKind::Histogram => Err(Status::BadArgument),
                    Some(m) => Ok(m.value as u64),
                }
            };
            let value = tri!(&c, name, format!("id={id}"), value);
            tri!(&c, name, format!("id={id}"), write_u64(&mut c, ptr, value));
            done(&c, name, format!("id={id} value={value}"), Status::Ok)
        },
    )?;

    // --- properties ---

    linker.func_wrap(
        env,
        "proxy_get_property",
        |mut c: C<'_>, pp: i32, pl: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_get_property";
            enter(&c, name)?;
            let path = tri!(&c, name, String::new(), read(&c, pp, pl));
            let key = properties::key_from_wire(&path);
            let detail = key.replace('\0', ".");
            let Some(value) = properties::lookup(c.data(), &key) else {
                return done(&c, name, detail, Status::NotFound);
            };
            let st = copy_out(&mut c, &value, vpp, vlp)?;
            done(&c, name, detail, st)
        },
    )?;

    linker.func_wrap(
        env,
        "proxy_set_property",
        |mut c: C<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_set_property";
            enter(&c, name)?;
            let path = tri!(&c, name, String::new(), read(&c, pp, pl));
            let value = tri!(&c, name, String::new(), read(&c, vp, vl));
            let key = properties::key_from_wire(&path);
            let detail = key.replace('\0', ".");
            if !properties::set(c.data_mut(), key, value) {
                return done(&c, name, detail, Status::NotFound);
            }
            done(&c, name, detail, Status::Ok)
        },
    )?;

    // --- contexts ---

    linker.func_wrap(
        env,
        "proxy_set_effective_context",
        |mut c: C<'_>, id: i32| -> R {
            let name = "proxy_set_effective_context";
            enter(&c, name)?;
            let id = id as u32;
            let d = c.data_mut();
            if !d.contexts.contains_key(&id) {
                return done(&c, name, format!("id={id}"), Status::BadArgument);
            }
            d.active = id;
            done(&c, name, format!("id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(env, "proxy_done", |mut c: C<'_>| -> R {
        let name = "proxy_done";
        enter(&c, name)?;
        let d = c.data_mut();
        let ctx = d.active;
        // cpp-host `WasmBase::done`: only a context whose on_done returned false may finish.
        if !d.pending_done.contains(&ctx) {
            return done(&c, name, format!("context={ctx}"), Status::NotFound);
        }
        d.deferred.push(Deferred::Done { context: ctx });
        done(&c, name, format!("context={ctx}"), Status::Ok)
    })?;

    linker.func_wrap(
        env,
        "proxy_call_foreign_function",
        |mut c: C<'_>, np: i32, nl: i32, ap: i32, al: i32, rpp: i32, rlp: i32| -> R {
            let name = "proxy_call_foreign_function";
            enter(&c, name)?;
            let fname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let args = tri!(&c, name, fname.clone(), read(&c, ap, al));
            let (st, result) = foreign(&c, &fname, &args);
            {
                let d = c.data();
                d.world().foreign_calls.push(ForeignCall {
                    host: d.host_id,
                    worker: d.worker,
                    context: d.active,
                    name: fname.clone(),
                    args,
                    status: st.code(),
                });
            }
            if st != Status::Ok {
                return done(&c, name, fname, st);
            }
            let st = copy_out(&mut c, &result, rpp, rlp)?;
            done(&c, name, fname, st)
        },
    )?;

    // Envoy also registers these two in `env` for Emscripten-built modules.
    linker.func_wrap(env, "pthread_equal", |a: i32, b: i32| -> i32 {
        (a == b) as i32
    })?;
    linker.func_wrap(env, "emscripten_notify_memory_growth", |_: i32| {})?;
    Ok(())
}

pub(crate) fn log(d: &VmData, level: LogLevel, message: String) {
    let mut w = d.world();
    // Envoy drops messages below the current log level.
    if level >= w.log_level {
        w.logs.push(LogEntry {
            plugin: d.plugin_name.clone(),
            worker: d.worker,
            context: d.active,
            level,
            message,
        });
    }
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

/// Envoy's registered foreign functions that matter to routing filters.
fn foreign(c: &C<'_>, name: &str, args: &[u8]) -> (Status, Vec<u8>) {
    let d = c.data();
    match name {
        "clear_route_cache" => {
            d.world().route_clears.push(RouteCacheClear {
                host: d.host_id,
                worker: d.worker,
                context: d.active,
                reason: ClearReason::ForeignFunction,
            });
            (Status::Ok, Vec::new())
        }
        "set_envoy_filter_state" => match properties::parse_filter_state_args(args) {
            Some((path, value)) => {
                let mut w = d.world();
                w.properties.insert(format!("filter_state\0{path}"), value);
                (Status::Ok, Vec::new())
            }
            None => (Status::BadArgument, Vec::new()),
        },
        _ => (Status::NotFound, Vec::new()),
    }
}
