//! The 39 `env.proxy_*` imports of ABI v0.2.1, plus the two `env` helpers Envoy registers.
//!
//! Each function follows cpp-host `src/exports.cc` and Envoy `source/extensions/common/wasm/
//! context.cc`: the notes in each comment name the behaviour reproduced.
//!
//! One file per ABI area; [`add_to_linker`] registers them all. Every function starts with
//! [`enter`] (strict mode) and ends with `done` (the trace record and the status code).

use wasmtime::{Caller, Linker};
use wasmtime::{Result, bail};

use crate::abi::Status;
use crate::module::AbiVersion;
use crate::records::HostCall;
use crate::state::VmData;

pub(crate) type C<'a> = Caller<'a, VmData>;
type R = Result<i32>;

/// The import module of every proxy-wasm host function.
const ENV: &str = "env";

/// Unwraps a `Result<_, Status>`, or ends the host call with that status through `done`.
macro_rules! tri {
    ($c:expr, $name:expr, $detail:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(st) => return done($c, $name, $detail, st),
        }
    };
}

mod buffers;
mod foreign;
mod grpc;
mod headers;
mod http_calls;
mod log_time;
mod maps;
mod memory;
mod metrics;
mod properties;
mod shared;
mod streams;

pub(crate) use log_time::log;
pub(crate) use memory::{copy_out, read, read_string, write, write_u32, write_u64};

// === registration ===

pub(crate) fn add_to_linker(linker: &mut Linker<VmData>, abi_version: AbiVersion) -> Result<()> {
    log_time::add(linker, abi_version)?;
    buffers::add(linker)?;
    headers::add(linker)?;
    streams::add(linker)?;
    http_calls::add(linker)?;
    grpc::add(linker)?;
    shared::add(linker)?;
    metrics::add(linker)?;
    properties::add(linker)?;
    foreign::add(linker)?;
    // Envoy also registers these two in `env` for Emscripten-built modules.
    linker.func_wrap(ENV, "pthread_equal", |a: i32, b: i32| -> i32 {
        (a == b) as i32
    })?;
    linker.func_wrap(ENV, "emscripten_notify_memory_growth", |_: i32| {})?;
    Ok(())
}

// === tracing and strict mode ===

/// Starts a host call: in strict mode, a call outside the allowed list traps and is recorded.
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

/// Starts a `proxy_*` call as [`enter`] does; `Some(status)` when the test forced this call's
/// status, which the caller returns through [`forced`] without carrying the call out.
fn enter_forced(c: &C<'_>, name: &'static str) -> Result<Option<u32>> {
    enter(c, name)?;
    Ok(c.data().world().forced_statuses.get(name).copied())
}

/// Ends a host call whose status the test forced: recorded in the trace, nothing carried out
/// (no memory written, no state changed), the raw code returned to the guest.
fn forced(c: &C<'_>, name: &'static str, code: u32) -> R {
    let d = c.data();
    d.world().trace.push(HostCall {
        worker: d.worker,
        context: d.active,
        name,
        detail: "status forced by the test".to_string(),
        status: code,
    });
    Ok(code as i32)
}

/// Ends a host call: records it in the trace and returns its status code to the guest.
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

/// The index behind a metric or queue id: ids are 1-based (0 is never handed out), so an
/// unknown id, 0 included, lands past the end and reads as NOT_FOUND.
fn slot(id: u32) -> usize {
    (id as usize).wrapping_sub(1)
}
