//! Failure policies (Envoy `failure_policy`): what a trapped VM means for the stream that
//! saw it and for later streams (FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD with backoff).

use anyhow::Result;

use crate::records::{LocalResponse, ReplySource};
use crate::state::lock;

use super::{FailurePolicy, Host, Side, StreamId};

impl Host {
    pub(super) fn failure_reply(&mut self, id: StreamId) {
        self.rec(id).filter_skipped = true;
        self.local_reply(
            id,
            LocalResponse {
                status: 503,
                body: Vec::new(),
                headers: Vec::new(),
                details: "wasm_fail_stream".to_string(),
                grpc_status: Some(14),
                flags: Vec::new(),
                source: ReplySource::VmFailure,
            },
        );
    }

    pub(super) fn on_trap(&mut self, id: StreamId) {
        match self.cfg.failure_policy {
            FailurePolicy::FailOpen => {
                // The filter leaves the chain; the stream continues as if it had continued.
                self.rec(id).filter_skipped = true;
                for side in [Side::Request, Side::Response] {
                    if let Some(d) = self.dir(id, side) {
                        d.paused = None;
                        // Whatever the filter held goes on without it.
                        let held = d.headers_forwarded && !d.body_pending;
                        if held {
                            let body = std::mem::take(&mut d.body);
                            d.forwarded_body.extend(body);
                            d.body_open = false;
                        }
                        if d.headers_received && !d.headers_forwarded {
                            self.forward_headers(id, side);
                        }
                    }
                    self.pump(id, side);
                }
            }
            FailurePolicy::FailClosed => self.failure_reply(id),
            FailurePolicy::FailReload => {
                self.schedule_reload(id.worker);
                self.failure_reply(id);
            }
        }
    }

    /// FAIL_RELOAD: a VM that failed is replaced before the next stream.
    pub(super) fn prepare_worker(&mut self, worker: usize) -> Result<()> {
        let now = lock(&self.world).now_ms();
        if self.reload_at[worker].is_some_and(|t| now >= t) {
            self.reload_at[worker] = None;
            let next = self.next_context[worker];
            let vm = self.start_vm(worker)?;
            self.vms[worker] = vm;
            self.next_context[worker] = next;
            self.reloads += 1;
            self.start_root(worker)?;
        }
        Ok(())
    }

    pub(super) fn schedule_reload(&mut self, worker: usize) {
        if self.reload_at[worker].is_none() {
            let now = lock(&self.world).now_ms();
            self.reload_at[worker] = Some(now + self.cfg.reload_backoff_ms);
        }
    }
}
