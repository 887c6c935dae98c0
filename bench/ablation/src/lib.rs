//! The ablation filter: the router's per-request host calls, one piece at a time.
//!
//! `bench/attribution.sh` loads this module into a real Envoy once per step of a cumulative
//! series (the SDK alone; then the pseudo-header reads; the bind-port property; the log-level
//! query; the cluster header write; the retry headers; the route-cache clear; the metric) and
//! measures Envoy's CPU per request for each, so the difference between two neighbours is what
//! that piece costs. The calls go through `portcullis_glue`, exactly as the router makes them.
//!
//! Plugin configuration: `{"steps": ["authority_path", …]}` (unknown names are refused, so a
//! typo cannot silently measure less). The header values written are the ones the router
//! writes for the seed example.

use std::cell::Cell;
use std::rc::Rc;

use portcullis_glue::{Counter, host};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(Root::default()));
}}

/// The pieces of the router's request path, in the order the router performs them.
#[derive(Clone, Copy, Debug, Default)]
struct Steps {
    /// `:authority` and `:path`: one header read each.
    authority_path: bool,
    /// `:method` and `:scheme`: one header read each.
    method_scheme: bool,
    /// The whole request header map in one read (the alternative to single reads).
    header_map: bool,
    /// `destination.port`: the property read that selects the listener.
    bind_port: bool,
    /// `proxy_get_log_level`: gates the router's debug line.
    log_level: bool,
    /// `x-portcullis-cluster`: the header Envoy's catch-all route takes the cluster from.
    cluster_header: bool,
    /// `x-envoy-max-retries` and `x-envoy-retry-on`: Istio's default retry policy.
    retry_headers: bool,
    /// The `clear_route_cache` foreign function.
    route_cache_clear: bool,
    /// One counter increment (the router's `routed`).
    metric: bool,
}

impl Steps {
    fn parse(json: &[u8]) -> Result<Steps, String> {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|error| format!("bad JSON: {error}"))?;
        let mut steps = Steps::default();
        let names = value
            .get("steps")
            .and_then(|s| s.as_array())
            .ok_or("expected {\"steps\": [..]}")?;
        for name in names {
            let flag = match name.as_str().unwrap_or_default() {
                "authority_path" => &mut steps.authority_path,
                "method_scheme" => &mut steps.method_scheme,
                "header_map" => &mut steps.header_map,
                "bind_port" => &mut steps.bind_port,
                "log_level" => &mut steps.log_level,
                "cluster_header" => &mut steps.cluster_header,
                "retry_headers" => &mut steps.retry_headers,
                "route_cache_clear" => &mut steps.route_cache_clear,
                "metric" => &mut steps.metric,
                other => return Err(format!("unknown step {other:?}")),
            };
            *flag = true;
        }
        Ok(steps)
    }
}

#[derive(Debug, Default)]
struct Root {
    steps: Rc<Cell<Steps>>,
    counter: Option<Counter>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        match Steps::parse(&config) {
            Ok(steps) => {
                self.steps.set(steps);
                self.counter = Some(Counter::define("portcullis_ablation_requests_total"));
                true
            }
            Err(error) => {
                host::log(LogLevel::Error, &format!("ablation: {error}"));
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            steps: self.steps.get(),
            counter: self.counter,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Debug)]
struct Stream {
    steps: Steps,
    counter: Option<Counter>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let steps = self.steps;
        let mut read = 0usize;
        if steps.authority_path {
            for name in [":authority", ":path"] {
                read += host::request_header(name).map_or(0, |v| v.len());
            }
        }
        if steps.method_scheme {
            for name in [":method", ":scheme"] {
                read += host::request_header(name).map_or(0, |v| v.len());
            }
        }
        if steps.header_map {
            read += host::request_headers().len();
        }
        if steps.bind_port {
            read += usize::from(host::property_u64(&["destination", "port"]).is_some());
        }
        if steps.log_level && host::debug_logging() {
            host::log(LogLevel::Debug, &format!("ablation: read {read} bytes"));
        }
        if steps.cluster_header {
            host::set_request_header(
                "x-portcullis-cluster",
                "outbound|80||dev-upstream.demo.local",
            );
        }
        if steps.retry_headers {
            host::set_request_header("x-envoy-max-retries", "2");
            host::set_request_header(
                "x-envoy-retry-on",
                "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
            );
        }
        if steps.route_cache_clear {
            host::clear_route_cache();
        }
        if steps.metric
            && let Some(counter) = self.counter
        {
            counter.inc();
        }
        Action::Continue
    }
}
