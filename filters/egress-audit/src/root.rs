//! The root context: compiled policy, audit pipeline, and the listener port map.

use std::cell::RefCell;
use std::rc::Rc;

use portcullis_core::EgressPolicy;
use portcullis_core::contract::EGRESS_AUDIT_TCP_ROOT_ID;
use portcullis_core::wire::WireConfig;
use portcullis_glue::{Unconfigured, host, load_wire_config};
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::ContextType;

use crate::http::EgressHttp;
use crate::metrics::EgressMetrics;
use crate::pipeline::Pipeline;
use crate::record::RecordIds;
use crate::tcp::EgressTcp;

/// One accepted configuration, shared read-only with the streams it serves.
#[derive(Debug)]
pub struct Served {
    /// The allow-list and audit settings.
    pub policy: EgressPolicy,
    /// `configVersion` of the wire config.
    pub config_version: String,
    /// Envoy bind port → Gateway server port, so rules see the port the user wrote: the HTTP
    /// listeners' and the passthrough-only ports'.
    pub ports: Vec<(u16, u16)>,
    /// The bind port of the only listener, when there is one: requests then skip the
    /// `destination.port` read.
    pub sole_bind_port: Option<u16>,
    /// Some listener terminates TLS (a `tls` server), so an HTTP request may have come with an
    /// SNI and a client certificate; without one the record skips those two property reads,
    /// which could only come back empty.
    pub terminates_tls: bool,
}

impl Served {
    /// The filter's compile step (what [`portcullis_core::validate`] runs for it).
    fn compile(wire: &WireConfig) -> Result<Self, portcullis_core::ConfigError> {
        Ok(Served {
            policy: EgressPolicy::from_wire(wire)?,
            config_version: wire.config_version.clone(),
            ports: wire
                .listeners
                .iter()
                .map(|l| (l.effective_bind_port(), l.port))
                .chain(wire.egress.iter().flat_map(|e| {
                    e.passthrough_ports
                        .iter()
                        .map(|p| (p.effective_bind_port(), p.port))
                }))
                .collect(),
            sole_bind_port: wire.sole_bind_port(),
            terminates_tls: wire
                .listeners
                .iter()
                .any(|l| l.servers.iter().any(|s| s.tls)),
        })
    }

    /// The wire config's `configVersion`.
    pub fn version(&self) -> &str {
        &self.config_version
    }

    /// The Gateway port for the connection's destination port.
    pub fn gateway_port(&self, bind_port: u16) -> u16 {
        self.ports
            .iter()
            .find(|(bind, _)| *bind == bind_port)
            .map_or(bind_port, |(_, port)| *port)
    }
}

/// State shared by the root and its streams.
#[derive(Debug)]
pub struct Shared {
    /// The audit sink.
    pub pipeline: RefCell<Pipeline>,
    /// Metrics.
    pub metrics: EgressMetrics,
    /// Ids for the records of this configuration's streams.
    pub ids: RecordIds,
}

/// One root context per plugin configuration and worker.
#[derive(Debug)]
pub struct EgressRoot {
    tcp: bool,
    served: Option<Rc<Served>>,
    shared: Option<Rc<Shared>>,
    metrics: Option<EgressMetrics>,
}

impl EgressRoot {
    /// A root context; its kind (HTTP or TCP) is read from `plugin_root_id` at configure time.
    pub fn new(_context_id: u32) -> Self {
        EgressRoot {
            tcp: false,
            served: None,
            shared: None,
            metrics: None,
        }
    }
}

impl Context for EgressRoot {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _body: usize, _t: usize) {
        // No headers: the call failed (timeout, reset, no upstream).
        let status = (num_headers > 0)
            .then(|| host::http_call_response_header(":status"))
            .flatten()
            .and_then(|status| status.parse::<u16>().ok());
        if let Some(shared) = &self.shared {
            shared.pipeline.borrow_mut().on_response(
                token,
                status,
                host::now_millis(),
                shared.metrics,
            );
        }
    }

    /// Envoy retires this root context (its plugin configuration was replaced): the records
    /// it holds go to the configuration that follows, through the shared queue.
    fn on_done(&mut self) -> bool {
        if let Some(shared) = &self.shared {
            shared.pipeline.borrow_mut().retire(shared.metrics);
        }
        true
    }
}

impl RootContext for EgressRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        self.tcp =
            host::property_string(&["plugin_root_id"]).as_deref() == Some(EGRESS_AUDIT_TCP_ROOT_ID);
        let metrics = *self.metrics.get_or_insert_with(EgressMetrics::define);
        let outcome = load_wire_config().and_then(|wire| Served::compile(&wire));
        let kept = self.served.as_ref().map(|s| s.config_version.as_str());
        match metrics
            .config
            .report("egress", outcome, Served::version, kept)
        {
            Some(served) => {
                let audit = served.policy.audit();
                let previous = self.shared.take();
                let mut previous = previous.as_ref().map(|p| p.pipeline.borrow_mut());
                let pipeline = Pipeline::new(
                    &audit.sink,
                    audit.failure_mode,
                    previous.as_deref_mut(),
                    metrics,
                );
                drop(previous);
                self.shared = Some(Rc::new(Shared {
                    pipeline: RefCell::new(pipeline),
                    metrics,
                    ids: RecordIds::new(),
                }));
                self.served = Some(Rc::new(served));
                true
            }
            None => false,
        }
    }

    fn on_tick(&mut self) {
        if let Some(shared) = &self.shared {
            shared
                .pipeline
                .borrow_mut()
                .pump(host::now_millis(), shared.metrics);
        }
    }

    fn on_queue_ready(&mut self, _queue_id: u32) {
        self.on_tick();
    }

    /// Never `None` (the SDK would panic): without a configuration the request is refused.
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(match (self.served.clone(), self.shared.clone()) {
            (Some(served), Some(shared)) => Box::new(EgressHttp::new(served, shared)),
            _ => Box::new(Unconfigured::new("egress-audit")),
        })
    }

    /// Never `None`: without a configuration the connection is closed.
    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(match (self.served.clone(), self.shared.clone()) {
            (Some(served), Some(shared)) => Box::new(EgressTcp::new(served, shared)),
            _ => Box::new(Unconfigured::new("egress-audit")),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(if self.tcp {
            ContextType::StreamContext
        } else {
            ContextType::HttpContext
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G-13: a connection's bind port is mapped back to the Gateway port the rules name, for an
    /// HTTP listener and for a passthrough-only port alike; a port neither names stays as is.
    #[test]
    fn bind_ports_map_to_the_gateway_ports_rules_name() {
        let wire = WireConfig::from_json(
            br#"{"version": 1, "configVersion": "t",
                 "listeners": [{"port": 80, "bindPort": 10080}],
                 "egress": {"passthroughPorts": [{"port": 443, "bindPort": 10443}]}}"#,
        )
        .unwrap();
        let served = Served::compile(&wire).unwrap();
        assert_eq!(served.gateway_port(10080), 80);
        assert_eq!(served.gateway_port(10443), 443);
        assert_eq!(served.gateway_port(9999), 9999);
    }
}
