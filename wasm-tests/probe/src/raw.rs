//! Raw ABI v0.2.1 calls returning the status code as the host gave it.
#![allow(clashing_extern_declarations)]

use std::ptr::null_mut;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, p: *const u8, l: usize) -> u32;
    fn proxy_get_log_level(out: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(ms: u32) -> u32;
    fn proxy_get_buffer_bytes(
        t: u32,
        start: usize,
        max: usize,
        pp: *mut *mut u8,
        lp: *mut usize,
    ) -> u32;
    fn proxy_get_buffer_status(t: u32, lp: *mut usize, fp: *mut u32) -> u32;
    fn proxy_set_buffer_bytes(t: u32, start: usize, size: usize, p: *const u8, l: usize) -> u32;
    fn proxy_get_header_map_pairs(t: u32, pp: *mut *mut u8, lp: *mut usize) -> u32;
    fn proxy_set_header_map_pairs(t: u32, p: *const u8, l: usize) -> u32;
    fn proxy_get_header_map_size(t: u32, out: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        t: u32,
        kp: *const u8,
        kl: usize,
        vpp: *mut *mut u8,
        vlp: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        t: u32,
        kp: *const u8,
        kl: usize,
        vp: *const u8,
        vl: usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        t: u32,
        kp: *const u8,
        kl: usize,
        vp: *const u8,
        vl: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(t: u32, kp: *const u8, kl: usize) -> u32;
    fn proxy_continue_stream(t: u32) -> u32;
    fn proxy_close_stream(t: u32) -> u32;
    fn proxy_send_local_response(
        code: u32,
        dp: *const u8,
        dl: usize,
        bp: *const u8,
        bl: usize,
        hp: *const u8,
        hl: usize,
        grpc: i32,
    ) -> u32;
    fn proxy_get_status(code: *mut u32, mp: *mut *mut u8, ml: *mut usize) -> u32;
    fn proxy_grpc_send(token: u32, p: *const u8, l: usize, eos: u32) -> u32;
    fn proxy_grpc_cancel(token: u32) -> u32;
    fn proxy_grpc_close(token: u32) -> u32;
    fn proxy_set_shared_data(kp: *const u8, kl: usize, vp: *const u8, vl: usize, cas: u32) -> u32;
    fn proxy_get_shared_data(
        kp: *const u8,
        kl: usize,
        vpp: *mut *mut u8,
        vlp: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_register_shared_queue(np: *const u8, nl: usize, id: *mut u32) -> u32;
    fn proxy_resolve_shared_queue(
        vp: *const u8,
        vl: usize,
        np: *const u8,
        nl: usize,
        id: *mut u32,
    ) -> u32;
    fn proxy_enqueue_shared_queue(id: u32, p: *const u8, l: usize) -> u32;
    fn proxy_dequeue_shared_queue(id: u32, pp: *mut *mut u8, lp: *mut usize) -> u32;
    fn proxy_define_metric(t: u32, np: *const u8, nl: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, delta: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_metric(id: u32, out: *mut u64) -> u32;
    fn proxy_get_property(pp: *const u8, pl: usize, vpp: *mut *mut u8, vlp: *mut usize) -> u32;
    fn proxy_set_property(pp: *const u8, pl: usize, vp: *const u8, vl: usize) -> u32;
    fn proxy_set_effective_context(id: u32) -> u32;
    fn proxy_done() -> u32;
    fn proxy_call_foreign_function(
        np: *const u8,
        nl: usize,
        ap: *const u8,
        al: usize,
        rpp: *mut *mut u8,
        rlp: *mut usize,
    ) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
    fn clock_time_get(id: u32, precision: u64, out: *mut u64) -> u16;
    fn clock_res_get(id: u32, out: *mut u64) -> u16;
    fn fd_read(fd: u32, iovs: *const u8, n: usize, out: *mut usize) -> u16;
    fn fd_write(fd: u32, iovs: *const [usize; 2], n: usize, out: *mut usize) -> u16;
    fn fd_prestat_get(fd: u32, out: *mut u8) -> u16;
    fn sched_yield() -> u16;
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
fn take(p: *mut u8, l: usize) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the SDK's allocator made this with `Vec::with_capacity(l)` and forgot it.
    Some(unsafe { Vec::from_raw_parts(p, l, l) })
}

pub fn log(level: u32, msg: &str) -> u32 {
    unsafe { proxy_log(level, msg.as_ptr(), msg.len()) }
}

pub fn get_log_level() -> (u32, u32) {
    let mut l = 0;
    let st = unsafe { proxy_get_log_level(&mut l) };
    (st, l)
}

pub fn current_time() -> (u32, u64) {
    let mut t = 0;
    let st = unsafe { proxy_get_current_time_nanoseconds(&mut t) };
    (st, t)
}

pub fn set_tick(ms: u32) -> u32 {
    unsafe { proxy_set_tick_period_milliseconds(ms) }
}

pub fn get_buffer(t: u32, start: usize, max: usize) -> (u32, Option<Vec<u8>>) {
    let (mut p, mut l) = (null_mut(), 0);
    let st = unsafe { proxy_get_buffer_bytes(t, start, max, &mut p, &mut l) };
    (st, take(p, l))
}

pub fn buffer_status(t: u32) -> (u32, usize, u32) {
    let (mut l, mut f) = (0, 0);
    let st = unsafe { proxy_get_buffer_status(t, &mut l, &mut f) };
    (st, l, f)
}

pub fn set_buffer(t: u32, start: usize, size: usize, v: &[u8]) -> u32 {
    unsafe { proxy_set_buffer_bytes(t, start, size, v.as_ptr(), v.len()) }
}

pub fn get_pairs(t: u32) -> (u32, Option<Vec<u8>>) {
    let (mut p, mut l) = (null_mut(), 0);
    let st = unsafe { proxy_get_header_map_pairs(t, &mut p, &mut l) };
    (st, take(p, l))
}

pub fn serialize(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

pub fn deserialize(b: &[u8]) -> Vec<(String, String)> {
    let word = |at: usize| -> usize {
        b.get(at..at + 4)
            .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
    };
    let count = word(0);
    let mut at = 4 + count * 8;
    let mut out = Vec::new();
    for i in 0..count {
        let (kl, vl) = (word(4 + i * 8), word(8 + i * 8));
        let k = b
            .get(at..at + kl)
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .unwrap_or_default();
        at += kl + 1;
        let v = b
            .get(at..at + vl)
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .unwrap_or_default();
        at += vl + 1;
        out.push((k, v));
    }
    out
}

pub fn set_pairs(t: u32, pairs: &[(String, String)]) -> u32 {
    let b = serialize(pairs);
    unsafe { proxy_set_header_map_pairs(t, b.as_ptr(), b.len()) }
}

pub fn map_size(t: u32) -> (u32, usize) {
    let mut s = 0;
    let st = unsafe { proxy_get_header_map_size(t, &mut s) };
    (st, s)
}

pub fn get_header(t: u32, k: &str) -> (u32, Option<Vec<u8>>) {
    let (mut p, mut l) = (null_mut(), 0);
    let st = unsafe { proxy_get_header_map_value(t, k.as_ptr(), k.len(), &mut p, &mut l) };
    (st, take(p, l))
}

pub fn header_op(op: &str, t: u32, k: &str, v: &str) -> u32 {
    unsafe {
        match op {
            "add_header" => proxy_add_header_map_value(t, k.as_ptr(), k.len(), v.as_ptr(), v.len()),
            "replace_header" => {
                proxy_replace_header_map_value(t, k.as_ptr(), k.len(), v.as_ptr(), v.len())
            }
            _ => proxy_remove_header_map_value(t, k.as_ptr(), k.len()),
        }
    }
}

pub fn continue_stream(t: u32) -> u32 {
    unsafe { proxy_continue_stream(t) }
}

pub fn close_stream(t: u32) -> u32 {
    unsafe { proxy_close_stream(t) }
}

pub fn send_local_response(
    code: u32,
    details: &str,
    body: &[u8],
    headers: &[(String, String)],
    grpc: i32,
) -> u32 {
    let h = serialize(headers);
    unsafe {
        proxy_send_local_response(
            code,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            h.as_ptr(),
            h.len(),
            grpc,
        )
    }
}

pub fn get_status() -> (u32, u32, String) {
    let (mut code, mut p, mut l) = (0, null_mut(), 0);
    let st = unsafe { proxy_get_status(&mut code, &mut p, &mut l) };
    let msg = take(p, l)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    (st, code, msg)
}

pub fn grpc_send(token: u32, msg: &[u8], eos: bool) -> u32 {
    unsafe { proxy_grpc_send(token, msg.as_ptr(), msg.len(), eos as u32) }
}

pub fn grpc_end(op: &str, token: u32) -> u32 {
    unsafe {
        if op == "grpc_cancel" {
            proxy_grpc_cancel(token)
        } else {
            proxy_grpc_close(token)
        }
    }
}

pub fn set_shared(k: &str, v: &[u8], cas: u32) -> u32 {
    unsafe { proxy_set_shared_data(k.as_ptr(), k.len(), v.as_ptr(), v.len(), cas) }
}

pub fn get_shared(k: &str) -> (u32, Option<Vec<u8>>, u32) {
    let (mut p, mut l, mut cas) = (null_mut(), 0, 0);
    let st = unsafe { proxy_get_shared_data(k.as_ptr(), k.len(), &mut p, &mut l, &mut cas) };
    (st, take(p, l), cas)
}

pub fn register_queue(name: &str) -> (u32, u32) {
    let mut id = 0;
    let st = unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) };
    (st, id)
}

pub fn resolve_queue(vm: &str, name: &str) -> (u32, u32) {
    let mut id = 0;
    let st = unsafe {
        proxy_resolve_shared_queue(vm.as_ptr(), vm.len(), name.as_ptr(), name.len(), &mut id)
    };
    (st, id)
}

pub fn enqueue(id: u32, v: &[u8]) -> u32 {
    unsafe { proxy_enqueue_shared_queue(id, v.as_ptr(), v.len()) }
}

pub fn dequeue(id: u32) -> (u32, Option<Vec<u8>>) {
    let (mut p, mut l) = (null_mut(), 0);
    let st = unsafe { proxy_dequeue_shared_queue(id, &mut p, &mut l) };
    (st, take(p, l))
}

pub fn define_metric(t: u32, name: &str) -> (u32, u32) {
    let mut id = 0;
    let st = unsafe { proxy_define_metric(t, name.as_ptr(), name.len(), &mut id) };
    (st, id)
}

pub fn increment_metric(id: u32, delta: i64) -> u32 {
    unsafe { proxy_increment_metric(id, delta) }
}

pub fn record_metric(id: u32, v: u64) -> u32 {
    unsafe { proxy_record_metric(id, v) }
}

pub fn get_metric(id: u32) -> (u32, u64) {
    let mut v = 0;
    let st = unsafe { proxy_get_metric(id, &mut v) };
    (st, v)
}

pub fn get_property(path: &[String]) -> (u32, Option<Vec<u8>>) {
    let p = path.join("\0");
    let (mut vp, mut vl) = (null_mut(), 0);
    let st = unsafe { proxy_get_property(p.as_ptr(), p.len(), &mut vp, &mut vl) };
    (st, take(vp, vl))
}

pub fn set_property(path: &[String], v: &[u8]) -> u32 {
    let p = path.join("\0");
    unsafe { proxy_set_property(p.as_ptr(), p.len(), v.as_ptr(), v.len()) }
}

pub fn set_effective_context(id: u32) -> u32 {
    unsafe { proxy_set_effective_context(id) }
}

pub fn done() -> u32 {
    unsafe { proxy_done() }
}

pub fn call_foreign(name: &str, args: &[u8]) -> (u32, Option<Vec<u8>>) {
    let (mut p, mut l) = (null_mut(), 0);
    let st = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            args.as_ptr(),
            args.len(),
            &mut p,
            &mut l,
        )
    };
    (st, take(p, l))
}

pub fn wasi_random(len: usize) -> (u32, Vec<u8>) {
    let mut b = vec![0u8; len];
    let e = unsafe { random_get(b.as_mut_ptr(), len) };
    (e as u32, b)
}

pub fn wasi_clock(id: u32) -> (u32, u64) {
    let mut t = 0;
    let e = unsafe { clock_time_get(id, 1, &mut t) };
    (e as u32, t)
}

pub fn wasi_clock_res(id: u32) -> (u32, u64) {
    let mut t = 0;
    let e = unsafe { clock_res_get(id, &mut t) };
    (e as u32, t)
}

pub fn wasi_fd_read() -> u32 {
    let mut n = 0;
    let buf = [0u8; 16];
    unsafe { fd_read(0, buf.as_ptr(), 0, &mut n) as u32 }
}

pub fn wasi_fd_write(fd: u32, data: &[u8]) -> u32 {
    let iov = [data.as_ptr() as usize, data.len()];
    let mut n = 0;
    unsafe { fd_write(fd, &iov, 1, &mut n) as u32 }
}

pub fn wasi_fd_prestat_get() -> u32 {
    let mut buf = [0u8; 8];
    unsafe { fd_prestat_get(3, buf.as_mut_ptr()) as u32 }
}

pub fn wasi_sched_yield() -> u32 {
    unsafe { sched_yield() as u32 }
}
