//! The proxy-wasm ABI 0.2.1 imports the filters call, with every status the host can return
//! handed back as an error.
//!
//! The SDK's own wrappers (`proxy_wasm::hostcalls`) panic on any status they do not expect,
//! declare the imports' return type as a Rust enum (a status outside it is undefined
//! behaviour), and slice the host's map encoding without bounds checks. A panic traps the VM,
//! and a trapped VM fails every in-flight and later request of its worker: a host that answers
//! `INTERNAL_FAILURE` to a header read (or a newer Envoy with a new status code) must cost one
//! header, not the gateway. So the calls on the request path are declared here once more, with
//! `u32` statuses, and decoded defensively.
//!
//! What stays with the SDK: its dispatcher, which switches to the context Envoy names before
//! each callback (`proxy_set_effective_context` on ids Envoy itself handed out), and
//! `dispatch_http_call`, which must register the callout token with that dispatcher and whose
//! statuses (`OK`, `BAD_ARGUMENT`, `INTERNAL_FAILURE`) are exactly the ones Envoy returns.

#![expect(
    unsafe_code,
    reason = "the host's imports are foreign functions; each call passes pointers to live \
              buffers and lengths that match them"
)]

use std::ptr::{null, null_mut};

use portcullis_core::abi_map;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, StreamType};

/// A status other than `OK` (or than the "absent" status a call documents) from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus(pub u32);

/// The result of one host call.
pub type HostResult<T> = Result<T, HostStatus>;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const SERIALIZATION_FAILURE: u32 = 3;
const EMPTY: u32 = 7;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_call_foreign_function(
        name_data: *const u8,
        name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_register_shared_queue(
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_enqueue_shared_queue(queue_id: u32, value_data: *const u8, value_size: usize) -> u32;
    fn proxy_dequeue_shared_queue(
        queue_id: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
}

fn status(code: u32) -> HostResult<()> {
    if code == OK {
        Ok(())
    } else {
        Err(HostStatus(code))
    }
}

/// Takes ownership of a buffer the host allocated in this module's memory through
/// `proxy_on_memory_allocate` (the SDK's allocator: a `Vec<u8>` of exactly `size` bytes).
fn take_returned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: the host wrote `data` and `size` from one `proxy_on_memory_allocate(size)` call,
    // which returned a forgotten `Vec::with_capacity(size)`: length and capacity are `size`.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// A call that returns a host-allocated buffer: `OK` with the buffer, the `absent` status (if
/// the call has one) as `None`, any other status as the error.
fn returned_bytes(
    absent: Option<u32>,
    call: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
) -> HostResult<Option<Vec<u8>>> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    match call(&mut data, &mut size) {
        OK => Ok(take_returned(data, size)),
        code if Some(code) == absent => Ok(None),
        code => Err(HostStatus(code)),
    }
}

/// Writes a log line at `level`.
pub fn log(level: LogLevel, message: &str) -> HostResult<()> {
    // SAFETY: pointer and length of a live `&str`.
    status(unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) })
}

/// The host's log level for this plugin, as the ABI numbers it (0 trace … 5 critical); read as
/// a number, so a level a newer host adds is a value, not undefined behaviour.
pub fn log_level() -> HostResult<u32> {
    let mut level: u32 = 0;
    // SAFETY: a pointer to a live `u32`.
    status(unsafe { proxy_get_log_level(&mut level) })?;
    Ok(level)
}

/// Makes `context_id` the context later calls act on (the host refuses ids it does not know,
/// such as a stream that has ended).
pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_set_effective_context(context_id) })
}

/// Resumes the effective context's paused request.
pub fn resume_http_request() -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_continue_stream(StreamType::HttpRequest as u32) })
}

/// Nanoseconds since the Unix epoch, by the host's clock.
pub fn current_time_nanos() -> HostResult<u64> {
    let mut nanos: u64 = 0;
    // SAFETY: a pointer to a live `u64`.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(nanos)
}

/// Sets the root context's tick period (0 disables it).
pub fn set_tick_period_ms(period: u32) -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// Up to `max_size` bytes of a buffer from `start`; `None` when the host has no such buffer.
pub fn buffer(buffer: BufferType, start: usize, max_size: usize) -> HostResult<Option<Vec<u8>>> {
    returned_bytes(Some(NOT_FOUND), |data, size| {
        // SAFETY: out-pointers to live locals of `returned_bytes`.
        unsafe { proxy_get_buffer_bytes(buffer as u32, start, max_size, data, size) }
    })
}

/// A header's value; `None` when absent.
pub fn header(map: MapType, name: &str) -> HostResult<Option<Vec<u8>>> {
    returned_bytes(Some(NOT_FOUND), |data, size| {
        // SAFETY: pointer and length of a live `&str`; out-pointers to live locals.
        unsafe { proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size) }
    })
}

/// Every header of a map, in order. A malformed encoding from the host is an error
/// (`SERIALIZATION_FAILURE`), never an out-of-bounds read.
pub fn headers(map: MapType) -> HostResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes = returned_bytes(Some(NOT_FOUND), |data, size| {
        // SAFETY: out-pointers to live locals.
        unsafe { proxy_get_header_map_pairs(map as u32, data, size) }
    })?;
    match bytes {
        None => Ok(Vec::new()),
        Some(bytes) => abi_map::decode(&bytes).ok_or(HostStatus(SERIALIZATION_FAILURE)),
    }
}

/// Replaces (or adds) a header.
pub fn replace_header(map: MapType, name: &str, value: &[u8]) -> HostResult<()> {
    // SAFETY: pointers and lengths of live slices.
    status(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Appends a header value.
pub fn add_header(map: MapType, name: &str, value: &[u8]) -> HostResult<()> {
    // SAFETY: pointers and lengths of live slices.
    status(unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of a header.
pub fn remove_header(map: MapType, name: &str) -> HostResult<()> {
    // SAFETY: pointer and length of a live `&str`.
    status(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// A property's bytes; `None` when absent. Path segments are joined with NUL, as the ABI
/// encodes them.
pub fn property(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    let encoded = path.join("\0");
    returned_bytes(Some(NOT_FOUND), |data, size| {
        // SAFETY: pointer and length of a live `String`; out-pointers to live locals.
        unsafe { proxy_get_property(encoded.as_ptr(), encoded.len(), data, size) }
    })
}

/// Calls a host extension function by name.
pub fn call_foreign_function(name: &str, arguments: &[u8]) -> HostResult<Option<Vec<u8>>> {
    returned_bytes(None, |data, size| {
        // SAFETY: pointers and lengths of live slices; out-pointers to live locals.
        unsafe {
            proxy_call_foreign_function(
                name.as_ptr(),
                name.len(),
                arguments.as_ptr(),
                arguments.len(),
                data,
                size,
            )
        }
    })
}

/// Closes the downstream connection.
pub fn close_downstream() -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_close_stream(StreamType::Downstream as u32) })
}

/// Sends a local reply instead of forwarding the request.
pub fn send_local_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HostResult<()> {
    let encoded = abi_map::encode(headers);
    let (body_data, body_size) = body.map_or((null(), 0), |b| (b.as_ptr(), b.len()));
    // SAFETY: pointers and lengths of live buffers (or null and 0); -1: not a gRPC reply.
    status(unsafe {
        proxy_send_local_response(
            status_code,
            null(),
            0,
            body_data,
            body_size,
            encoded.as_ptr(),
            encoded.len(),
            -1,
        )
    })
}

/// Defines a metric and returns its id.
pub fn define_metric(kind: MetricType, name: &str) -> HostResult<u32> {
    let mut id: u32 = 0;
    // SAFETY: pointer and length of a live `&str`; a pointer to a live `u32`.
    status(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds `offset` to a counter or gauge.
pub fn increment_metric(id: u32, offset: i64) -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_increment_metric(id, offset) })
}

/// Sets a gauge.
pub fn record_metric(id: u32, value: u64) -> HostResult<()> {
    // SAFETY: no pointers.
    status(unsafe { proxy_record_metric(id, value) })
}

/// Registers (or finds) this VM's shared queue `name` and returns its id.
pub fn register_shared_queue(name: &str) -> HostResult<u32> {
    let mut id: u32 = 0;
    // SAFETY: pointer and length of a live `&str`; a pointer to a live `u32`.
    status(unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// The value of shared-data `key` and its compare-and-swap token; `(None, 0)` when the key
/// has no value yet (a set with token 0 is unconditional).
pub fn get_shared_data(key: &str) -> HostResult<(Option<Vec<u8>>, u32)> {
    let mut cas: u32 = 0;
    let value = returned_bytes(Some(NOT_FOUND), |data, size| {
        // SAFETY: pointer and length of a live `&str`; out-pointers to live locals.
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), data, size, &mut cas) }
    })?;
    let cas = if value.is_some() { cas } else { 0 };
    Ok((value, cas))
}

/// Sets shared-data `key` to `value` if its token is still `cas` (0: unconditionally); a
/// `CAS_MISMATCH` (8) error means another VM changed it first.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> HostResult<()> {
    // SAFETY: pointers and lengths of a live `&str` and a live slice.
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Appends a message to a shared queue.
pub fn enqueue_shared_queue(id: u32, value: &[u8]) -> HostResult<()> {
    // SAFETY: pointer and length of a live slice.
    status(unsafe { proxy_enqueue_shared_queue(id, value.as_ptr(), value.len()) })
}

/// Takes the oldest message of a shared queue; `None` when it is empty.
pub fn dequeue_shared_queue(id: u32) -> HostResult<Option<Vec<u8>>> {
    returned_bytes(Some(EMPTY), |data, size| {
        // SAFETY: out-pointers to live locals.
        unsafe { proxy_dequeue_shared_queue(id, data, size) }
    })
}
