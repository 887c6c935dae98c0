//! One request through the router.

use std::rc::Rc;
use std::time::Duration;

use portcullis_core::apply::{
    RequestHeaderHost, ResponseHeaderHost, apply_forward, apply_response, local_response_headers,
    mirror_headers,
};
use portcullis_core::contract::CLUSTER_HEADER;
use portcullis_core::{ForwardHandle, ForwardPlan, Gateway, Outcome};
use portcullis_glue::{Reads, RequestData, host, respond};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

use crate::root::Shared;

/// How long a mirror callout may take before the host gives up on it.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(5);

/// Per-request state: only what the response phase still needs.
#[derive(Debug)]
pub struct RouterStream {
    context_id: u32,
    gateway: Option<Rc<Gateway>>,
    shared: Rc<Shared>,
    /// The route and destination a forwarded request took: the response phase looks their
    /// header operations up in `gateway`, which this stream holds until it ends.
    forwarded: Option<ForwardHandle>,
    /// CORS headers for a matching `Origin`.
    cors_headers: Vec<(&'static str, String)>,
    delayed: bool,
}

impl RouterStream {
    /// A stream served with `gateway` (None: no valid config was ever accepted).
    pub fn new(context_id: u32, gateway: Option<Rc<Gateway>>, shared: Rc<Shared>) -> Self {
        RouterStream {
            context_id,
            gateway,
            shared,
            forwarded: None,
            cors_headers: Vec::new(),
            delayed: false,
        }
    }

    fn forward(&mut self, plan: ForwardPlan<'_>, request: &RequestData) -> Action {
        let metrics = self.shared.metrics;
        // The cluster header, rewrites, header operations, timeout and retries. Envoy clears
        // the route it cached before this filter ran on the first of these writes.
        apply_forward(&plan, &request.path, &mut EnvoyHeaders);
        self.forwarded = Some(plan.handle);
        self.cors_headers = plan.cors_response_headers;
        if !plan.mirrors.is_empty() {
            mirror(&plan.mirrors, metrics);
        }
        metrics.routed.inc();

        match plan.delay_ms {
            Some(delay) if delay > 0 => {
                metrics.delayed.inc();
                let now = host::now_millis();
                self.shared
                    .timers
                    .borrow_mut()
                    // A delay too large for the clock never ends; it must not wrap to "now".
                    .schedule(self.context_id, now.saturating_add(delay), now);
                self.delayed = true;
                Action::Pause
            }
            _ => Action::Continue,
        }
    }
}

impl Context for RouterStream {
    fn on_done(&mut self) -> bool {
        if self.delayed {
            self.shared.timers.borrow_mut().cancel(self.context_id);
        }
        true
    }
}

impl HttpContext for RouterStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(gateway) = self.gateway.clone() else {
            // on_configure never accepted a config; Envoy does not normally create streams
            // then, but a router without routes must not forward anything.
            host::remove_request_header(CLUSTER_HEADER);
            respond::send_text(503, &[], "portcullis: no valid routing configuration\n");
            return Action::Pause;
        };
        let request = RequestData::read(gateway.referenced_headers(), Reads::for_gateway(&gateway));
        let decision = {
            let mut entropy = self.shared.entropy.borrow_mut();
            gateway.decide(&request.view(), &mut *entropy)
        };
        let metrics = self.shared.metrics;
        if host_debug_enabled() {
            // The request read skips what the config's decisions do not use; the log line
            // names the request all the same.
            let read = |value: &str, name: &str| match value {
                "" => host::request_header(name).unwrap_or_default(),
                _ => value.to_string(),
            };
            host::log(
                LogLevel::Debug,
                &format!(
                    "portcullis router: {} {}{} -> {:?} (evidence {:?})",
                    read(&request.method, ":method"),
                    request.authority,
                    read(&request.path, ":path"),
                    decision.outcome,
                    decision.evidence
                ),
            );
        }
        match decision.outcome {
            Outcome::Forward(plan) => self.forward(plan, &request),
            Outcome::Refused(refusal) => {
                metrics.unrouted.inc();
                if matches!(
                    refusal,
                    portcullis_core::Refusal::HostNotAllowed
                        | portcullis_core::Refusal::MissingAuthority
                        | portcullis_core::Refusal::NoTlsServer
                ) {
                    metrics.refused.inc();
                }
                // Istio's Envoy answers 404 NR with an empty body; so do we.
                respond::send(refusal.status(), &[], "");
                Action::Pause
            }
            Outcome::Redirect {
                status,
                location,
                response_headers,
            } => {
                metrics.redirected.inc();
                let mut headers = vec![("location", location.as_str())];
                local_response_headers(&mut headers, response_headers);
                respond::send(status, &headers, "");
                Action::Pause
            }
            Outcome::DirectResponse {
                status,
                body,
                response_headers,
            } => {
                metrics.answered.inc();
                let mut headers = Vec::new();
                local_response_headers(&mut headers, response_headers);
                respond::send_bytes(status, &headers, body);
                Action::Pause
            }
            Outcome::Abort {
                status,
                grpc_status,
            } => {
                metrics.aborted.inc();
                match grpc_status {
                    Some(code) => {
                        let code = code.to_string();
                        let headers = [
                            ("content-type", "application/grpc"),
                            ("grpc-status", code.as_str()),
                        ];
                        respond::send(200, &headers, "");
                    }
                    None => respond::send_text(status, &[], "fault filter abort"),
                }
                Action::Pause
            }
            Outcome::CorsPreflight { headers } => {
                metrics.answered.inc();
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                respond::send(200, &headers, "");
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let operations = self
            .gateway
            .as_deref()
            .zip(self.forwarded)
            .into_iter()
            .flat_map(|(gateway, handle)| gateway.response_operations(handle));
        apply_response(operations, &self.cors_headers, &mut EnvoyHeaders);
        Action::Continue
    }
}

/// The header translation's host calls, on the current stream's Envoy headers.
struct EnvoyHeaders;

impl RequestHeaderHost for EnvoyHeaders {
    fn set_request_header(&mut self, name: &str, value: &str) {
        host::set_request_header(name, value);
    }

    fn add_request_header(&mut self, name: &str, value: &str) {
        host::add_request_header(name, value);
    }

    fn remove_request_header(&mut self, name: &str) {
        host::remove_request_header(name);
    }
}

impl ResponseHeaderHost for EnvoyHeaders {
    fn set_response_header(&mut self, name: &str, value: &str) {
        host::set_response_header(name, value);
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        host::add_response_header(name, value);
    }

    fn remove_response_header(&mut self, name: &str) {
        host::remove_response_header(name);
    }
}

/// Sends a fire-and-forget copy of the request headers to each mirror cluster, with Envoy's
/// `-shadow` suffix on the authority so the mirror can tell copies apart. Bodies are not
/// mirrored: the decision is taken on headers and the filter does not buffer bodies.
///
/// Envoy keeps a stream's callout running after the stream ends (the main request answered,
/// or the client gone) until it completes or `MIRROR_TIMEOUT` passes (V-24; the e2e test
/// `a_slow_mirror_still_receives_its_copy` holds Envoy to it).
fn mirror(clusters: &[&str], metrics: crate::metrics::RouterMetrics) {
    let copy = mirror_headers(host::request_headers());
    let copy: Vec<(&str, &str)> = copy.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for cluster in clusters {
        match hostcalls::dispatch_http_call(cluster, copy.clone(), None, vec![], MIRROR_TIMEOUT) {
            Ok(_) => metrics.mirrored.inc(),
            Err(_) => metrics.mirror_failed.inc(),
        }
    }
}

fn host_debug_enabled() -> bool {
    host::debug_logging()
}
