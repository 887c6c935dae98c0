//! The network egress filter: TLS passthrough audited by SNI.

use std::rc::Rc;

use portcullis_core::EgressDecision;
use portcullis_core::audit::{Event, Protocol};
use portcullis_core::egress::DenyReason;
use portcullis_glue::host;
use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::{Action, PeerType};

use crate::record::{Seen, line};
use crate::root::{Served, Shared};

/// One downstream connection.
#[derive(Debug)]
pub struct EgressTcp {
    served: Rc<Served>,
    shared: Rc<Shared>,
    seen: Seen,
    sni: Option<String>,
    bytes_in: u64,
    bytes_out: u64,
    decided: bool,
    /// Refused because audit records cannot be delivered (`failureMode: closed`).
    refused_unaudited: bool,
}

impl EgressTcp {
    /// A connection under `served`.
    pub fn new(served: Rc<Served>, shared: Rc<Shared>) -> Self {
        EgressTcp {
            served,
            shared,
            seen: Seen::default(),
            sni: None,
            bytes_in: 0,
            bytes_out: 0,
            decided: false,
            refused_unaudited: false,
        }
    }

    fn decision(&self) -> EgressDecision<'_> {
        if self.refused_unaudited {
            return EgressDecision::Denied {
                reason: DenyReason::AuditUnavailable,
            };
        }
        self.served
            .policy
            .decide_sni(self.sni.as_deref(), self.seen.port)
    }
}

impl EgressTcp {
    fn write(&self, event: Event) {
        let decision = self.decision();
        let record = line(
            &self.served,
            &self.shared,
            &decision,
            Protocol::Tcp,
            event,
            &self.seen,
        );
        self.shared
            .pipeline
            .borrow()
            .write(record, self.refused_unaudited, self.shared.metrics);
    }
}

impl Context for EgressTcp {}

impl StreamContext for EgressTcp {
    fn on_new_connection(&mut self) -> Action {
        // The TLS inspector ran before the filter chain: the SNI is known now.
        self.sni = host::property_string(&["connection", "requested_server_name"])
            .filter(|s| !s.is_empty());
        let bind_port = host::property_u64(&["destination", "port"])
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        self.seen = Seen {
            start_nanos: host::now_nanos(),
            host: self.sni.clone().unwrap_or_default(),
            port: self.served.gateway_port(bind_port),
            ..Seen::default()
        };
        self.decided = true;
        let metrics = self.shared.metrics;
        let refuse_unaudited = self.shared.pipeline.borrow().refuse_new_egress();
        if self.decision().is_allowed() && !refuse_unaudited {
            metrics.allowed.inc();
            // A passthrough connection may stay open for hours: recorded now, and at its end.
            self.write(Event::Open);
            return Action::Continue;
        }
        if refuse_unaudited {
            self.refused_unaudited = true;
            metrics.refused_audit_unavailable.inc();
        } else {
            metrics.denied.inc();
        }
        // Stop before tcp_proxy connects upstream, then close: nothing leaves the mesh.
        host::close_downstream();
        Action::Pause
    }

    fn on_downstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.bytes_in += data_size as u64;
        Action::Continue
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.bytes_out += data_size as u64;
        Action::Continue
    }

    fn on_downstream_close(&mut self, _peer_type: PeerType) {}

    fn on_log(&mut self) {
        if !self.decided {
            return;
        }
        self.seen.bytes = Some((self.bytes_in, self.bytes_out));
        self.write(Event::Close);
    }
}
