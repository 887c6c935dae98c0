//! The HTTP egress filter: allow-list, deny bodies, one audit record per request.

use std::rc::Rc;

use portcullis_core::EgressDecision;
use portcullis_core::audit::Protocol;
use portcullis_core::egress::DenyReason;
use portcullis_glue::{Reads, RequestData, host, respond};
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
        }
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
        let RequestData {
            bind_port,
            authority,
            path,
            method,
            ..
        } = RequestData::read(
            &[],
            // The audit record names the method and the path; the scheme is not recorded.
            Reads {
                path: true,
                method: true,
                known_bind_port: self.served.sole_bind_port,
                ..Reads::default()
            },
        );
        self.seen = Seen {
            start_nanos: host::now_nanos(),
            port: self.served.gateway_port(bind_port),
            method: Some(method),
            path: Some(path),
            host: authority,
        };
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
                    let body = reason.body(&self.seen.host, self.seen.port);
                    respond::send_text(self.served.policy.status_for(reason), &[], &body);
                    return Action::Pause;
                }
                metrics.allowed.inc();
                Action::Continue
            }
            EgressDecision::Denied { reason } => {
                metrics.denied.inc();
                let body = reason.body(&self.seen.host, self.seen.port);
                let code = reason.code();
                respond::send_text(
                    self.served.policy.status_for(reason),
                    &[("x-portcullis-egress-denied", code)],
                    &body,
                );
                Action::Pause
            }
        }
    }

    fn on_log(&mut self) {
        if !self.decided {
            return;
        }
        let decision = self.decision();
        let record = line(&self.served, &decision, Protocol::Http, &self.seen, None);
        self.shared
            .pipeline
            .borrow()
            .write(record, self.refused.is_some(), self.shared.metrics);
    }
}
