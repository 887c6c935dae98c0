//! The WASI subset Envoy provides (cpp-host `src/exports.cc`), under both
//! `wasi_snapshot_preview1` and `wasi_unstable`.

use wasmtime::Linker;
use wasmtime::Result;

use crate::abi::{LogLevel, MAX_RANDOM_BYTES};
use crate::hostcalls::{C, enter, log, read, write, write_u32, write_u64};
use crate::state::VmData;

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const ENOENT: i32 = 44;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;

fn status(r: Result<(), crate::abi::Status>) -> i32 {
    match r {
        Ok(()) => SUCCESS,
        Err(_) => EINVAL,
    }
}

/// Registers the WASI functions under `module`.
pub(crate) fn add_to_linker(linker: &mut Linker<VmData>, module: &str) -> Result<()> {
    // fd_write: stdout is logged at INFO, stderr at ERROR, every other fd is BADF.
    linker.func_wrap(
        module,
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, n: i32, written_ptr: i32| -> Result<i32> {
            enter(&c, "fd_write")?;
            let level = match fd {
                1 => LogLevel::Info,
                2 => LogLevel::Error,
                _ => return Ok(EBADF),
            };
            let mut out = Vec::new();
            for i in 0..n {
                let Ok(iov) = read(&c, iovs + i * 8, 8) else {
                    return Ok(EINVAL);
                };
                let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                let Ok(bytes) = read(&c, ptr, len) else {
                    return Ok(EINVAL);
                };
                out.extend_from_slice(&bytes);
            }
            if write_u32(&mut c, written_ptr, out.len() as u32).is_err() {
                return Ok(EINVAL);
            }
            let text = String::from_utf8_lossy(&out);
            let text = text.strip_suffix('\n').unwrap_or(&text);
            if !text.is_empty() {
                log(c.data(), level, text.to_string());
            }
            Ok(SUCCESS)
        },
    )?;

    linker.func_wrap(
        module,
        "fd_read",
        |c: C<'_>, _: i32, _: i32, _: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_read")?;
            Ok(ENOSYS)
        },
    )?;
    linker.func_wrap(
        module,
        "fd_pread",
        |c: C<'_>, _: i32, _: i32, _: i32, _: i64, _: i32| -> Result<i32> {
            enter(&c, "fd_pread")?;
            Ok(ENOSYS)
        },
    )?;
    // fd_seek / fd_close: cpp-host logs an error and reports success.
    linker.func_wrap(
        module,
        "fd_seek",
        |c: C<'_>, _: i32, _: i64, _: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_seek")?;
            log(
                c.data(),
                LogLevel::Error,
                "wasi_unstable fd_seek".to_string(),
            );
            Ok(SUCCESS)
        },
    )?;
    linker.func_wrap(module, "fd_close", |c: C<'_>, _: i32| -> Result<i32> {
        enter(&c, "fd_close")?;
        log(
            c.data(),
            LogLevel::Error,
            "wasi_unstable fd_close".to_string(),
        );
        Ok(SUCCESS)
    })?;
    // fd_fdstat_get: stdout and stderr only; zeroed fdstat with the fd_write right.
    linker.func_wrap(
        module,
        "fd_fdstat_get",
        |mut c: C<'_>, fd: i32, buf: i32| -> Result<i32> {
            enter(&c, "fd_fdstat_get")?;
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            let mut st = [0u8; 24];
            st[8..16].copy_from_slice(&64u64.to_le_bytes());
            Ok(status(write(&mut c, buf, &st)))
        },
    )?;
    linker.func_wrap(
        module,
        "fd_fdstat_set_flags",
        |c: C<'_>, fd: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_fdstat_set_flags")?;
            Ok(if (0..=2).contains(&fd) {
                SUCCESS
            } else {
                EBADF
            })
        },
    )?;
    linker.func_wrap(
        module,
        "fd_prestat_get",
        |c: C<'_>, _: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_prestat_get")?;
            Ok(EBADF)
        },
    )?;
    linker.func_wrap(
        module,
        "fd_prestat_dir_name",
        |c: C<'_>, _: i32, _: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_prestat_dir_name")?;
            Ok(ENOSYS)
        },
    )?;
    linker.func_wrap(
        module,
        "fd_filestat_get",
        |c: C<'_>, _: i32, _: i32| -> Result<i32> {
            enter(&c, "fd_filestat_get")?;
            Ok(EBADF)
        },
    )?;
    linker.func_wrap(
        module,
        "fd_readdir",
        |c: C<'_>, _: i32, _: i32, _: i32, _: i64, _: i32| -> Result<i32> {
            enter(&c, "fd_readdir")?;
            Ok(EBADF)
        },
    )?;
    linker.func_wrap(
        module,
        "path_open",
        |c: C<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i64,
         _: i64,
         _: i32,
         _: i32|
         -> Result<i32> {
            enter(&c, "path_open")?;
            Ok(ENOENT)
        },
    )?;
    linker.func_wrap(
        module,
        "path_filestat_get",
        |c: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| -> Result<i32> {
            enter(&c, "path_filestat_get")?;
            Ok(ENOTSUP)
        },
    )?;
    for name in ["path_remove_directory", "path_unlink_file"] {
        linker.func_wrap(
            module,
            name,
            move |c: C<'_>, _: i32, _: i32, _: i32| -> Result<i32> {
                enter(
                    &c,
                    if name == "path_unlink_file" {
                        "path_unlink_file"
                    } else {
                        "path_remove_directory"
                    },
                )?;
                Ok(ENOENT)
            },
        )?;
    }

    // environ: only the VM's configured environment variables.
    linker.func_wrap(
        module,
        "environ_sizes_get",
        |mut c: C<'_>, count_ptr: i32, size_ptr: i32| -> Result<i32> {
            enter(&c, "environ_sizes_get")?;
            let env = &c.data().env;
            let count = env.len() as u32;
            let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            Ok(status(
                write_u32(&mut c, count_ptr, count)
                    .and_then(|_| write_u32(&mut c, size_ptr, size as u32)),
            ))
        },
    )?;
    linker.func_wrap(
        module,
        "environ_get",
        |mut c: C<'_>, ptrs: i32, buf: i32| -> Result<i32> {
            enter(&c, "environ_get")?;
            let env = c.data().env.clone();
            let mut at = buf;
            for (i, (k, v)) in env.iter().enumerate() {
                let entry = format!("{k}={v}\0");
                let r = write_u32(&mut c, ptrs + 4 * i as i32, at as u32)
                    .and_then(|_| write(&mut c, at, entry.as_bytes()));
                if r.is_err() {
                    return Ok(EINVAL);
                }
                at += entry.len() as i32;
            }
            Ok(SUCCESS)
        },
    )?;
    // args: always none.
    linker.func_wrap(
        module,
        "args_sizes_get",
        |mut c: C<'_>, count_ptr: i32, size_ptr: i32| -> Result<i32> {
            enter(&c, "args_sizes_get")?;
            Ok(status(
                write_u32(&mut c, count_ptr, 0).and_then(|_| write_u32(&mut c, size_ptr, 0)),
            ))
        },
    )?;
    linker.func_wrap(
        module,
        "args_get",
        |c: C<'_>, _: i32, _: i32| -> Result<i32> {
            enter(&c, "args_get")?;
            Ok(SUCCESS)
        },
    )?;

    // Clocks: the host's virtual clock. REALTIME=0, MONOTONIC=1.
    linker.func_wrap(
        module,
        "clock_time_get",
        |mut c: C<'_>, id: i32, _precision: i64, ptr: i32| -> Result<i32> {
            enter(&c, "clock_time_get")?;
            let t = {
                let w = c.data().world();
                match id {
                    0 => w.now_ns(),
                    1 => w.elapsed_ns + 1_000_000_000,
                    // CPU-time clocks are not supported.
                    _ => return Ok(ENOTSUP),
                }
            };
            Ok(status(write_u64(&mut c, ptr, t)))
        },
    )?;
    linker.func_wrap(
        module,
        "clock_res_get",
        |mut c: C<'_>, id: i32, ptr: i32| -> Result<i32> {
            enter(&c, "clock_res_get")?;
            if !(0..=1).contains(&id) {
                return Ok(EINVAL);
            }
            Ok(status(write_u64(&mut c, ptr, 1)))
        },
    )?;
    // random_get: the host's seeded generator, at most 64 KiB per call (cpp-host limits.h).
    linker.func_wrap(
        module,
        "random_get",
        |mut c: C<'_>, buf: i32, len: i32| -> Result<i32> {
            enter(&c, "random_get")?;
            let len = len as u32 as usize;
            if len > MAX_RANDOM_BYTES {
                return Ok(EINVAL);
            }
            let mut bytes = Vec::with_capacity(len + 8);
            {
                let mut w = c.data().world();
                while bytes.len() < len {
                    bytes.extend_from_slice(&w.next_random().to_le_bytes());
                }
            }
            bytes.truncate(len);
            Ok(status(write(&mut c, buf, &bytes)))
        },
    )?;
    // proc_exit: cpp-host logs an error and returns; the guest then traps on its own
    // (Rust's `exit` is `-> !`).
    linker.func_wrap(
        module,
        "proc_exit",
        |mut c: C<'_>, code: i32| -> Result<()> {
            enter(&c, "proc_exit")?;
            c.data_mut().exit_code = Some(code);
            log(
                c.data(),
                LogLevel::Error,
                "wasi_unstable proc_exit".to_string(),
            );
            Ok(())
        },
    )?;
    linker.func_wrap(module, "sched_yield", |c: C<'_>| -> Result<i32> {
        enter(&c, "sched_yield")?;
        Ok(SUCCESS)
    })?;
    // poll_oneoff: clock subscriptions fire at once (the virtual clock does not move);
    // fd subscriptions report BADF.
    linker.func_wrap(
        module,
        "poll_oneoff",
        |mut c: C<'_>, input: i32, output: i32, n: i32, nevents_ptr: i32| -> Result<i32> {
            enter(&c, "poll_oneoff")?;
            for i in 0..n {
                let Ok(sub) = read(&c, input + i * 48, 48) else {
                    return Ok(EINVAL);
                };
                let mut ev = [0u8; 32];
                ev[0..8].copy_from_slice(&sub[0..8]);
                let tag = sub[8];
                if tag != 0 {
                    ev[8..10].copy_from_slice(&(EBADF as u16).to_le_bytes());
                }
                ev[10] = tag;
                if write(&mut c, output + i * 32, &ev).is_err() {
                    return Ok(EINVAL);
                }
            }
            Ok(status(write_u32(&mut c, nevents_ptr, n as u32)))
        },
    )?;
    Ok(())
}
