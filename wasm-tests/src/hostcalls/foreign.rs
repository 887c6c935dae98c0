//! Foreign functions: `proxy_call_foreign_function` and the Envoy functions routing filters
//! use (`clear_route_cache`, `set_envoy_filter_state`).

use wasmtime::{Linker, Result};

use crate::abi::Status;
use crate::properties;
use crate::records::{ClearReason, ForeignCall, RouteCacheClear};
use crate::state::VmData;

use super::{C, ENV, R, copy_out, done, enter_forced, forced, read, read_string};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_call_foreign_function",
        |mut c: C<'_>, np: i32, nl: i32, ap: i32, al: i32, rpp: i32, rlp: i32| -> R {
            let name = "proxy_call_foreign_function";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
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
    Ok(())
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
