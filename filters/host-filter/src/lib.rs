//! The Portcullis host filter: Gateway `servers[].hosts` as a filter, nothing else.
//!
//! A request whose host no server on the listener's port lists gets Istio's answer, 404; a
//! plain-text request to an `httpsRedirect` server gets a 301 to https. Admitted requests
//! continue untouched to whatever routing Envoy does. Deploy it alone in front of native Envoy
//! routes; with the Portcullis router, do not: the router already filters hosts in the same pass.

use std::rc::Rc;

use portcullis_core::contract::HOST_FILTER_METRICS;
use portcullis_core::{Gateway, HostVerdict};
use portcullis_glue::{ConfigMetrics, Counter, Reads, RequestData, load_wire_config, respond};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(HostFilterRoot::default()));
}}

#[derive(Clone, Copy, Debug)]
struct Metrics {
    allowed: Counter,
    refused: Counter,
    redirected: Counter,
    config: ConfigMetrics,
}

impl Metrics {
    fn define() -> Self {
        let c = |name: &str| Counter::define(&format!("{HOST_FILTER_METRICS}{name}"));
        Metrics {
            allowed: c("allowed"),
            refused: c("refused"),
            redirected: c("redirected"),
            config: ConfigMetrics::define(HOST_FILTER_METRICS),
        }
    }
}

#[derive(Debug, Default)]
struct HostFilterRoot {
    gateway: Option<Rc<Gateway>>,
    metrics: Option<Metrics>,
}

impl Context for HostFilterRoot {}

impl RootContext for HostFilterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let metrics = *self.metrics.get_or_insert_with(Metrics::define);
        let outcome = load_wire_config().and_then(|wire| Gateway::compile_hosts(&wire));
        let kept = self.gateway.as_ref().map(|g| g.config_version());
        match metrics
            .config
            .report("host filter", outcome, Gateway::config_version, kept)
        {
            Some(gateway) => {
                self.gateway = Some(Rc::new(gateway));
                true
            }
            None => false,
        }
    }

    /// Never `None` (the SDK would panic): before any configuration the request is refused.
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(match self.metrics {
            Some(metrics) => Box::new(HostFilterStream {
                gateway: self.gateway.clone(),
                metrics,
            }),
            None => Box::new(portcullis_glue::Unconfigured::new("host filter")),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Debug)]
struct HostFilterStream {
    gateway: Option<Rc<Gateway>>,
    metrics: Metrics,
}

impl Context for HostFilterStream {}

impl HttpContext for HostFilterStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(gateway) = &self.gateway else {
            respond::send_text(503, &[], "portcullis: no valid host filter configuration\n");
            return Action::Pause;
        };
        // Host filtering needs no header beyond the pseudo-headers.
        let request = RequestData::read(&[], Reads::for_gateway(gateway));
        match gateway.admit_host(&request.view()) {
            HostVerdict::Admitted(_) => {
                self.metrics.allowed.inc();
                Action::Continue
            }
            HostVerdict::HttpsRedirect { location, .. } => {
                self.metrics.redirected.inc();
                respond::send(301, &[("location", location.as_str())], "");
                Action::Pause
            }
            HostVerdict::Refused { refusal, .. } => {
                self.metrics.refused.inc();
                respond::send(refusal.status(), &[], "");
                Action::Pause
            }
        }
    }
}
