//! The HTTP egress filter: allow-list, deny bodies, one audit record per request.

use std::rc::Rc;

use portcullis_core::EgressDecision;
use portcullis_core::audit::{Event, Protocol};
use portcullis_core::egress::DenyReason;
use portcullis_glue::{host, respond};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::record::{Seen, line};
use crate::root::{Served, Shared};

/// One request.
#[derive(Debug)]
pub struct EgressHttp {
    served: Rc<Served>,
    shared: Rc<Shared>,
    seen: Seen,
    /// A refusal that the policy itself did not decide (audit unavailable).
    refused: Option<DenyReason>,
    decided: bool,
    /// An allowed upgrade whose `open` record is written: the last record is its `close`.
    opened: bool,
}

impl EgressHttp {
    /// A stream under `served`.
    pub fn new(served: Rc<Served>, shared: Rc<Shared>) -> Self {
        EgressHttp {
            served,
            shared,
            seen: Seen::default(),
            refused: None,
            decided: false,
            opened: false,
        }
    }

    /// What the decision and the record need of the request, in two host calls at most: the
    /// header map once (the record needs `:authority`, `:path`, `:method`, `x-request-id` and
    /// the included headers; one map read costs Envoy what two single reads do), and the
    /// destination port only when the config has more than one listener.
    fn read_request(&self) -> Seen {
        let bind_port = self
            .served
            .sole_bind_port
            .unwrap_or_else(host::destination_port);
        let redaction = self.served.policy.redaction();
        let mut seen = Seen {
            start_nanos: host::now_nanos(),
            port: self.served.gateway_port(bind_port),
            ..Seen::default()
        };
        for (name, value) in host::request_headers() {
            if redaction.includes(&name) {
                seen.headers.push((name.clone(), value.clone()));
            }
            match name.as_str() {
                ":authority" => seen.host = value,
                ":path" => seen.path = Some(value),
                ":method" => seen.method = Some(value),
                "x-request-id" => seen.request_id = Some(value),
                // HTTP/1.1 `upgrade:`, or HTTP/2 extended CONNECT (`:protocol: websocket`).
                "upgrade" | ":protocol" => seen.upgrade = true,
                _ => {}
            }
        }
        seen
    }

    /// Answers a refused request as the policy says (E-4).
    fn refuse(&self, reason: DenyReason) {
        let denial = self
            .served
            .policy
            .denial(reason, &self.seen.host, self.seen.port);
        let headers: Vec<(&str, &str)> = denial.header.into_iter().collect();
        match &denial.body {
            Some(body) => respond::send_text(denial.status, &headers, body),
            None => respond::send(denial.status, &headers, ""),
        }
    }

    fn write(&self, event: Event, decision: &EgressDecision<'_>) {
        let record = line(
            &self.served,
            &self.shared,
            decision,
            Protocol::Http,
            event,
            &self.seen,
        );
        self.shared
            .pipeline
            .borrow()
            .write(record, self.refused.is_some(), self.shared.metrics);
    }

    fn decision(&self) -> EgressDecision<'_> {
        match self.refused {
            Some(reason) => EgressDecision::Denied { reason },
            None => self
                .served
                .policy
                .decide_http(&self.seen.host, self.seen.port),
        }
    }
}

impl Context for EgressHttp {}

impl HttpContext for EgressHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.seen = self.read_request();
        self.decided = true;
        let metrics = self.shared.metrics;
        let decision = self
            .served
            .policy
            .decide_http(&self.seen.host, self.seen.port);
        match decision {
            EgressDecision::Allowed { .. } => {
                if self.shared.pipeline.borrow().refuse_new_egress() {
                    metrics.refused_audit_unavailable.inc();
                    let reason = DenyReason::AuditUnavailable;
                    self.refused = Some(reason);
                    self.refuse(reason);
                    return Action::Pause;
                }
                metrics.allowed.inc();
                if self.seen.upgrade {
                    // A WebSocket may stay open for hours: recorded now, not only at its end.
                    self.opened = true;
                    self.write(Event::Open, &decision);
                }
                Action::Continue
            }
            EgressDecision::Denied { reason } => {
                metrics.denied.inc();
                self.refuse(reason);
                Action::Pause
            }
        }
    }

    fn on_log(&mut self) {
        if !self.decided {
            return;
        }
        let decision = self.decision();
        let event = if self.opened {
            Event::Close
        } else {
            Event::Request
        };
        self.write(event, &decision);
    }
}
