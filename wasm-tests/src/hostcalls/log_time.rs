//! Logging, the log level, the clock and tick periods: `proxy_log`, `proxy_get_log_level`,
//! `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`.

use wasmtime::{Linker, Result};

use crate::abi::{LogLevel, Status};
use crate::module::AbiVersion;
use crate::records::LogEntry;
use crate::state::VmData;

use super::{C, ENV, R, done, enter_forced, forced, read_string, write_u32, write_u64};

pub(super) fn add(linker: &mut Linker<VmData>, abi_version: AbiVersion) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_log",
        |c: C<'_>, level: i32, ptr: i32, len: i32| -> R {
            if let Some(code) = enter_forced(&c, "proxy_log")? {
                return forced(&c, "proxy_log", code);
            }
            let msg = tri!(&c, "proxy_log", String::new(), read_string(&c, ptr, len));
            let Some(level) = LogLevel::from_code(level as u32) else {
                return done(&c, "proxy_log", msg, Status::BadArgument);
            };
            log(c.data(), level, msg.clone());
            done(&c, "proxy_log", format!("{level:?} {msg}"), Status::Ok)
        },
    )?;

    if abi_version >= AbiVersion::V0_2_1 {
        linker.func_wrap(ENV, "proxy_get_log_level", |mut c: C<'_>, ptr: i32| -> R {
            if let Some(code) = enter_forced(&c, "proxy_get_log_level")? {
                return forced(&c, "proxy_get_log_level", code);
            }
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
        ENV,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ptr: i32| -> R {
            let name = "proxy_get_current_time_nanoseconds";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let now = c.data().world().now_ns();
            tri!(&c, name, String::new(), write_u64(&mut c, ptr, now));
            done(&c, name, format!("{now}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, ms: i32| -> R {
            let name = "proxy_set_tick_period_milliseconds";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
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
