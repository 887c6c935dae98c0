//! The probe: a proxy-wasm guest whose behaviour is its configuration.
//!
//! Plugin configuration (JSON): for each callback name (`on_request_headers`, `on_tick`, …) a
//! list of operations; `returns` maps callback names to `"pause"`; `configure_result` and
//! `done_result` override those booleans; `context_type: "tcp"` makes stream contexts TCP.
//! The VM configuration may hold `on_vm_start` operations. Every operation logs one line
//! `probe {"cb":..,"op":..,"status":..,"value":..}` at INFO.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, PeerType};
use serde_json::{Value, json};

mod raw;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|id| Box::new(Root { id, config: Rc::new(Value::Null) }));
}}

thread_local! {
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
    static LEAK: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

struct Root {
    id: u32,
    config: Rc<Value>,
}

struct Http {
    id: u32,
    config: Rc<Value>,
}

struct Tcp {
    id: u32,
    config: Rc<Value>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn pairs(v: &Value, k: &str) -> Vec<(String, String)> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((
                        p.first()?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn path(v: &Value) -> Vec<String> {
    v.get("path")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn report(cb: &str, op: &str, status: u32, value: Value) {
    let line = json!({"cb": cb, "op": op, "status": status, "value": value});
    raw::log(2, &format!("probe {line}"));
}

fn text(b: &Option<Vec<u8>>) -> Value {
    match b {
        Some(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        None => Value::Null,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn metric_id(op: &Value) -> u32 {
    if let Some(id) = op.get("id").and_then(Value::as_u64) {
        return id as u32;
    }
    let name = s(op, "name");
    METRICS.with(|m| m.borrow().get(&name).copied().unwrap_or(0))
}

/// Runs the operations configured for `cb`, on behalf of `ctx` (an SDK context).
fn run(config: &Value, cb: &str, ctx: &dyn Context) {
    let Some(ops) = config.get(cb).and_then(Value::as_array) else {
        return;
    };
    for op in ops {
        run_op(cb, op, ctx);
    }
}

fn run_op(cb: &str, op: &Value, ctx: &dyn Context) {
    let name = s(op, "op");
    let name = name.as_str();
    match name {
        "log" => {
            let st = raw::log(n(op, "level") as u32, &s(op, "msg"));
            report(cb, name, st, Value::Null);
        }
        "get_log_level" => {
            let (st, l) = raw::get_log_level();
            report(cb, name, st, json!(l));
        }
        "time" => {
            let (st, t) = raw::current_time();
            report(cb, name, st, json!(t));
        }
        "system_time" => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            report(cb, name, 0, json!(t));
        }
        "set_tick" => {
            let st = raw::set_tick(n(op, "ms") as u32);
            report(cb, name, st, Value::Null);
        }
        "get_buffer" => {
            let (st, b) = raw::get_buffer(
                n(op, "type") as u32,
                n(op, "start") as usize,
                op.get("max").and_then(Value::as_u64).unwrap_or(1 << 20) as usize,
            );
            report(cb, name, st, text(&b));
        }
        "buffer_status" => {
            let (st, len, flags) = raw::buffer_status(n(op, "type") as u32);
            report(cb, name, st, json!({"len": len, "flags": flags}));
        }
        "set_buffer" => {
            let st = raw::set_buffer(
                n(op, "type") as u32,
                n(op, "start") as usize,
                n(op, "size") as usize,
                s(op, "value").as_bytes(),
            );
            report(cb, name, st, Value::Null);
        }
        "get_pairs" => {
            let (st, raw_bytes) = raw::get_pairs(n(op, "map") as u32);
            let len = raw_bytes.as_ref().map_or(0, Vec::len);
            let parsed = raw_bytes
                .as_deref()
                .map(raw::deserialize)
                .unwrap_or_default();
            report(cb, name, st, json!({"raw_len": len, "pairs": parsed}));
        }
        "set_pairs" => {
            let st = raw::set_pairs(n(op, "map") as u32, &pairs(op, "pairs"));
            report(cb, name, st, Value::Null);
        }
        "map_size" => {
            let (st, size) = raw::map_size(n(op, "map") as u32);
            report(cb, name, st, json!(size));
        }
        "get_header" => {
            let (st, v) = raw::get_header(n(op, "map") as u32, &s(op, "key"));
            report(cb, name, st, text(&v));
        }
        "add_header" | "replace_header" => {
            let st = raw::header_op(name, n(op, "map") as u32, &s(op, "key"), &s(op, "value"));
            report(cb, name, st, Value::Null);
        }
        "remove_header" => {
            let st = raw::header_op(name, n(op, "map") as u32, &s(op, "key"), "");
            report(cb, name, st, Value::Null);
        }
        "continue" => {
            let st = raw::continue_stream(n(op, "stream") as u32);
            report(cb, name, st, Value::Null);
        }
        "close" => {
            let st = raw::close_stream(n(op, "stream") as u32);
            report(cb, name, st, Value::Null);
        }
        "local_response" => {
            let grpc = op.get("grpc").and_then(Value::as_i64).unwrap_or(-1) as i32;
            let st = raw::send_local_response(
                n(op, "code") as u32,
                &s(op, "details"),
                s(op, "body").as_bytes(),
                &pairs(op, "headers"),
                grpc,
            );
            report(cb, name, st, Value::Null);
        }
        "get_status" => {
            let (st, code, msg) = raw::get_status();
            report(cb, name, st, json!({"code": code, "message": msg}));
        }
        "http_call" => {
            let headers = pairs(op, "headers");
            let hv: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let body = op.get("body").and_then(Value::as_str).map(str::as_bytes);
            let r = ctx.dispatch_http_call(
                &s(op, "cluster"),
                hv,
                body,
                vec![],
                Duration::from_millis(n(op, "timeout")),
            );
            match r {
                Ok(token) => report(cb, name, 0, json!(token)),
                Err(st) => report(cb, name, st as u32, Value::Null),
            }
        }
        "callout_response" => {
            let headers = ctx.get_http_call_response_headers();
            let body = ctx.get_http_call_response_body(0, 1 << 20);
            report(
                cb,
                name,
                0,
                json!({"headers": headers, "body": text(&body)}),
            );
        }
        "grpc_call" => {
            let r = ctx.dispatch_grpc_call(
                &s(op, "cluster"),
                &s(op, "service"),
                &s(op, "method"),
                vec![],
                Some(s(op, "message").as_bytes()),
                Duration::from_millis(n(op, "timeout")),
            );
            match r {
                Ok(token) => report(cb, name, 0, json!(token)),
                Err(st) => report(cb, name, st as u32, Value::Null),
            }
        }
        "grpc_stream" => {
            let r = ctx.open_grpc_stream(
                &s(op, "cluster"),
                &s(op, "service"),
                &s(op, "method"),
                vec![],
            );
            match r {
                Ok(token) => report(cb, name, 0, json!(token)),
                Err(st) => report(cb, name, st as u32, Value::Null),
            }
        }
        "grpc_send" => {
            let st = raw::grpc_send(
                n(op, "token") as u32,
                s(op, "message").as_bytes(),
                op.get("eos").and_then(Value::as_bool).unwrap_or(false),
            );
            report(cb, name, st, Value::Null);
        }
        "grpc_cancel" | "grpc_close" => {
            let st = raw::grpc_end(name, n(op, "token") as u32);
            report(cb, name, st, Value::Null);
        }
        "grpc_message" => {
            let body = ctx.get_grpc_call_response_body(0, 1 << 20);
            report(cb, name, 0, text(&body));
        }
        "set_shared" => {
            let st = raw::set_shared(
                &s(op, "key"),
                s(op, "value").as_bytes(),
                n(op, "cas") as u32,
            );
            report(cb, name, st, Value::Null);
        }
        "get_shared" => {
            let (st, v, cas) = raw::get_shared(&s(op, "key"));
            report(cb, name, st, json!({"value": text(&v), "cas": cas}));
        }
        "register_queue" => {
            let (st, id) = raw::register_queue(&s(op, "name"));
            report(cb, name, st, json!(id));
        }
        "resolve_queue" => {
            let (st, id) = raw::resolve_queue(&s(op, "vm_id"), &s(op, "name"));
            report(cb, name, st, json!(id));
        }
        "enqueue" => {
            let st = raw::enqueue(n(op, "id") as u32, s(op, "value").as_bytes());
            report(cb, name, st, Value::Null);
        }
        "dequeue" => {
            let (st, v) = raw::dequeue(n(op, "id") as u32);
            report(cb, name, st, text(&v));
        }
        "drain" => loop {
            let (st, v) = raw::dequeue(n(op, "id") as u32);
            report(cb, "dequeue", st, text(&v));
            if st != 0 {
                break;
            }
        },
        "define_metric" => {
            let (st, id) = raw::define_metric(n(op, "type") as u32, &s(op, "name"));
            METRICS.with(|m| m.borrow_mut().insert(s(op, "name"), id));
            report(cb, name, st, json!(id));
        }
        "increment_metric" => {
            let st = raw::increment_metric(metric_id(op), i(op, "delta"));
            report(cb, name, st, Value::Null);
        }
        "record_metric" => {
            let st = raw::record_metric(metric_id(op), n(op, "value"));
            report(cb, name, st, Value::Null);
        }
        "get_metric" => {
            let (st, v) = raw::get_metric(metric_id(op));
            report(cb, name, st, json!(v));
        }
        "get_property" => {
            let (st, v) = raw::get_property(&path(op));
            let h = v.as_deref().map(hex);
            report(cb, name, st, json!({"text": text(&v), "hex": h}));
        }
        "set_property" => {
            let st = raw::set_property(&path(op), s(op, "value").as_bytes());
            report(cb, name, st, Value::Null);
        }
        "set_effective_context" => {
            let st = raw::set_effective_context(n(op, "id") as u32);
            report(cb, name, st, Value::Null);
        }
        "done" => {
            let st = raw::done();
            report(cb, name, st, Value::Null);
        }
        "ffi" => {
            let args = match op.get("args_hex").and_then(Value::as_str) {
                Some(h) => (0..h.len() / 2)
                    .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect(),
                None => s(op, "args").into_bytes(),
            };
            let (st, v) = raw::call_foreign(&s(op, "name"), &args);
            report(cb, name, st, text(&v));
        }
        "print" => {
            println!("{}", s(op, "msg"));
            report(cb, name, 0, Value::Null);
        }
        "eprint" => {
            eprintln!("{}", s(op, "msg"));
            report(cb, name, 0, Value::Null);
        }
        "env" => {
            let v = std::env::var(s(op, "name")).ok();
            report(cb, name, 0, json!(v));
        }
        "env_all" => {
            let v: Vec<(String, String)> = std::env::vars().collect();
            let args: Vec<String> = std::env::args().collect();
            report(cb, name, 0, json!({"vars": v, "args": args}));
        }
        "wasi_random" => {
            let (errno, b) = raw::wasi_random(n(op, "len") as usize);
            report(cb, name, errno, json!(hex(&b)));
        }
        "wasi_clock" => {
            let (errno, t) = raw::wasi_clock(n(op, "id") as u32);
            report(cb, name, errno, json!(t));
        }
        "wasi_clock_res" => {
            let (errno, t) = raw::wasi_clock_res(n(op, "id") as u32);
            report(cb, name, errno, json!(t));
        }
        "wasi_fd_read" => report(cb, name, raw::wasi_fd_read(), Value::Null),
        "wasi_fd_prestat_get" => report(cb, name, raw::wasi_fd_prestat_get(), Value::Null),
        "wasi_fd_write_bad_fd" => report(cb, name, raw::wasi_fd_write(7, b"x"), Value::Null),
        "wasi_sched_yield" => report(cb, name, raw::wasi_sched_yield(), Value::Null),
        // Conditional traps, for tests of a trap under load: only the marked request (a header
        // present in map `map`) or connection (a buffer of type `type` containing `contains`)
        // traps; every other goes on.
        "trap_if_header" => {
            let (_, value) = raw::get_header(n(op, "map") as u32, &s(op, "key"));
            if value.is_some() {
                report(cb, name, 0, Value::Null);
                std::process::abort();
            }
        }
        "trap_if_buffer" => {
            let (_, bytes) = raw::get_buffer(n(op, "type") as u32, 0, 1 << 20);
            let needle = s(op, "contains");
            if bytes.is_some_and(|b| {
                b.windows(needle.len().max(1))
                    .any(|w| w == needle.as_bytes())
            }) {
                report(cb, name, 0, Value::Null);
                std::process::abort();
            }
        }
        "trap" => {
            report(cb, name, 0, Value::Null);
            // `abort` is the `unreachable` instruction on wasm32: a trap, as a panic would be.
            std::process::abort();
        }
        "exit" => {
            report(cb, name, 0, Value::Null);
            std::process::exit(n(op, "code") as i32);
        }
        "burn" => {
            let mut acc = 0u64;
            for k in 0..n(op, "n") {
                acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(k));
            }
            report(cb, name, 0, json!(acc % 2));
        }
        "leak" => {
            LEAK.with(|l| l.borrow_mut().push(vec![1u8; n(op, "bytes") as usize]));
            report(cb, name, 0, Value::Null);
        }
        "alloc" => {
            let v = std::hint::black_box(vec![1u8; n(op, "bytes") as usize]);
            report(cb, name, 0, json!(v.len()));
        }
        other => report(cb, other, u32::MAX, json!("unknown op")),
    }
}

fn action(config: &Value, cb: &str) -> Action {
    match config
        .get("returns")
        .and_then(|r| r.get(cb))
        .and_then(Value::as_str)
    {
        Some("pause") => Action::Pause,
        _ => Action::Continue,
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, n_headers: usize, body: usize, _t: usize) {
        report(
            "on_http_call_response",
            "callback",
            0,
            json!({"token": token, "headers": n_headers, "body": body, "context": self.id}),
        );
        run(&self.config.clone(), "on_http_call_response", self);
    }
    fn on_grpc_call_response(&mut self, token: u32, status: u32, size: usize) {
        report(
            "on_grpc_call_response",
            "callback",
            0,
            json!({"token": token, "status": status, "size": size}),
        );
        run(&self.config.clone(), "on_grpc_call_response", self);
    }
    fn on_grpc_stream_initial_metadata(&mut self, token: u32, n: u32) {
        report(
            "on_grpc_initial_metadata",
            "callback",
            0,
            json!({"token": token, "n": n}),
        );
        run(&self.config.clone(), "on_grpc_initial_metadata", self);
    }
    fn on_grpc_stream_message(&mut self, token: u32, size: usize) {
        report(
            "on_grpc_stream_message",
            "callback",
            0,
            json!({"token": token, "size": size}),
        );
        run(&self.config.clone(), "on_grpc_stream_message", self);
    }
    fn on_grpc_stream_trailing_metadata(&mut self, token: u32, n: u32) {
        report(
            "on_grpc_trailing_metadata",
            "callback",
            0,
            json!({"token": token, "n": n}),
        );
        run(&self.config.clone(), "on_grpc_trailing_metadata", self);
    }
    fn on_grpc_stream_close(&mut self, token: u32, status: u32) {
        report(
            "on_grpc_stream_close",
            "callback",
            0,
            json!({"token": token, "status": status}),
        );
    }
    fn on_done(&mut self) -> bool {
        report("on_root_done", "callback", 0, json!({"context": self.id}));
        run(&self.config.clone(), "on_root_done", self);
        self.config
            .get("root_done_result")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
    fn on_foreign_function(&mut self, id: u32, size: usize) {
        report(
            "on_foreign_function",
            "callback",
            0,
            json!({"id": id, "size": size}),
        );
        run(&self.config.clone(), "on_foreign_function", self);
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, size: usize) -> bool {
        report(
            "on_vm_start",
            "callback",
            0,
            json!({"size": size, "context": self.id}),
        );
        let vm_config = self
            .get_vm_configuration()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null);
        run(&vm_config, "on_vm_start", self);
        vm_config
            .get("vm_start_result")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
    fn on_configure(&mut self, size: usize) -> bool {
        let config = self
            .get_plugin_configuration()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .unwrap_or(Value::Null);
        report(
            "on_configure",
            "callback",
            0,
            json!({"size": size, "context": self.id}),
        );
        self.config = Rc::new(config);
        run(&self.config.clone(), "on_configure", self);
        self.config
            .get("configure_result")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
    fn on_tick(&mut self) {
        report("on_tick", "callback", 0, json!({"context": self.id}));
        run(&self.config.clone(), "on_tick", self);
    }
    fn on_queue_ready(&mut self, queue_id: u32) {
        report(
            "on_queue_ready",
            "callback",
            0,
            json!({"queue": queue_id, "context": self.id}),
        );
        run(&self.config.clone(), "on_queue_ready", self);
    }
    fn get_type(&self) -> Option<ContextType> {
        match self.config.get("context_type").and_then(Value::as_str) {
            Some("tcp") => Some(ContextType::StreamContext),
            _ => Some(ContextType::HttpContext),
        }
    }
    fn create_http_context(&self, id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            id,
            config: self.config.clone(),
        }))
    }
    fn create_stream_context(&self, id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(Tcp {
            id,
            config: self.config.clone(),
        }))
    }
}

impl Http {
    fn cb(&self, cb: &str, detail: Value) -> Action {
        report(cb, "callback", 0, detail);
        run(&self.config.clone(), cb, self);
        action(&self.config, cb)
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, n_headers: usize, body: usize, _t: usize) {
        report(
            "on_http_call_response",
            "callback",
            0,
            json!({"token": token, "headers": n_headers, "body": body, "context": self.id}),
        );
        run(&self.config.clone(), "on_http_call_response", self);
    }
    fn on_done(&mut self) -> bool {
        report("on_done", "callback", 0, json!({"context": self.id}));
        run(&self.config.clone(), "on_done", self);
        self.config
            .get("done_result")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, n: usize, eos: bool) -> Action {
        self.cb(
            "on_request_headers",
            json!({"n": n, "eos": eos, "context": self.id}),
        )
    }
    fn on_http_request_body(&mut self, size: usize, eos: bool) -> Action {
        self.cb("on_request_body", json!({"size": size, "eos": eos}))
    }
    fn on_http_request_trailers(&mut self, n: usize) -> Action {
        self.cb("on_request_trailers", json!({"n": n}))
    }
    fn on_http_response_headers(&mut self, n: usize, eos: bool) -> Action {
        self.cb("on_response_headers", json!({"n": n, "eos": eos}))
    }
    fn on_http_response_body(&mut self, size: usize, eos: bool) -> Action {
        self.cb("on_response_body", json!({"size": size, "eos": eos}))
    }
    fn on_http_response_trailers(&mut self, n: usize) -> Action {
        self.cb("on_response_trailers", json!({"n": n}))
    }
    fn on_log(&mut self) {
        report("on_log", "callback", 0, json!({"context": self.id}));
        run(&self.config.clone(), "on_log", self);
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        report("on_delete", "callback", 0, json!({"context": self.id}));
    }
}

impl Context for Tcp {}

impl StreamContext for Tcp {
    fn on_new_connection(&mut self) -> Action {
        report(
            "on_new_connection",
            "callback",
            0,
            json!({"context": self.id}),
        );
        run(&self.config.clone(), "on_new_connection", self);
        action(&self.config, "on_new_connection")
    }
    fn on_downstream_data(&mut self, size: usize, eos: bool) -> Action {
        report(
            "on_downstream_data",
            "callback",
            0,
            json!({"size": size, "eos": eos}),
        );
        run(&self.config.clone(), "on_downstream_data", self);
        action(&self.config, "on_downstream_data")
    }
    fn on_upstream_data(&mut self, size: usize, eos: bool) -> Action {
        report(
            "on_upstream_data",
            "callback",
            0,
            json!({"size": size, "eos": eos}),
        );
        run(&self.config.clone(), "on_upstream_data", self);
        action(&self.config, "on_upstream_data")
    }
    fn on_downstream_close(&mut self, peer: PeerType) {
        report(
            "on_downstream_close",
            "callback",
            0,
            json!({"peer": peer as u32}),
        );
    }
    fn on_upstream_close(&mut self, peer: PeerType) {
        report(
            "on_upstream_close",
            "callback",
            0,
            json!({"peer": peer as u32}),
        );
    }
    fn on_log(&mut self) {
        report("on_log", "callback", 0, json!({"context": self.id}));
    }
}
