//! Calling into a VM: fuel accounting per stream, failure records, and the deferred
//! actions and cross-VM queue notifications that run after each callback returns.

use crate::records::VmFailure;
use crate::state::{Callback, Deferred, Notify, lock};

use super::{Cb, Host, Side, StreamId};

impl Host {
    pub(super) fn record_failure(&self, worker: usize, callback: &str, message: &str) {
        lock(&self.world).failures.push(VmFailure {
            worker,
            callback: callback.to_string(),
            message: message.to_string(),
        });
    }

    pub(super) fn call(
        &mut self,
        worker: usize,
        cb: Callback,
        ctx: u32,
        name: &'static str,
        args: &[i32],
    ) -> Cb {
        if self.vms[worker].failed.is_some() {
            return Cb::Skipped;
        }
        let n = self.vms[worker].costs.len();
        let r = self.vms[worker].call(cb, ctx, name, args);
        let cost = self.vms[worker].costs[n..].to_vec();
        if let Some(rec) = self.streams.get_mut(&StreamId {
            worker,
            context: ctx,
        }) {
            rec.fuel += cost.iter().map(|c| c.fuel).sum::<u64>();
            rec.callbacks.extend(cost);
        }
        match r {
            Ok(v) => Cb::Ret(v),
            Err(e) => {
                self.record_failure(worker, name, &e);
                Cb::Trapped
            }
        }
    }

    /// Deferred actions and cross-VM notifications, run after each callback returns.
    pub(super) fn after_callback(&mut self, worker: usize) {
        self.apply_pending_local_replies(worker);
        loop {
            let deferred = std::mem::take(&mut self.vms[worker].store.data_mut().deferred);
            let notify = self.take_notifications();
            if deferred.is_empty() && notify.is_empty() {
                return;
            }
            for d in deferred {
                match d {
                    Deferred::Continue { context, stream } => {
                        let id = StreamId { worker, context };
                        match stream {
                            0 => self.resume(id, Side::Request),
                            1 => self.resume(id, Side::Response),
                            2 | 3 => self.tcp_resume(id, stream),
                            _ => {}
                        }
                    }
                    Deferred::Close { context, stream } => {
                        let id = StreamId { worker, context };
                        if stream <= 1 {
                            self.rec(id).reset = true;
                        } else if let Some(t) = self.tcp.get_mut(&id) {
                            t.closed_by_filter.push(stream);
                        }
                    }
                    Deferred::Done { context } => {
                        self.vms[worker]
                            .store
                            .data_mut()
                            .pending_done
                            .retain(|c| *c != context);
                        self.delete_root(worker, context);
                    }
                }
            }
            for n in notify {
                let Notify::QueueReady {
                    host: _,
                    worker: w,
                    root_context,
                    queue_id,
                } = n;
                if w < self.vms.len() {
                    let _ = self.call(
                        w,
                        Callback::QueueReady,
                        root_context,
                        "proxy_on_queue_ready",
                        &[root_context as i32, queue_id as i32],
                    );
                    if w != worker {
                        self.after_callback(w);
                    }
                }
            }
        }
    }

    /// Queue notifications addressed to this host's VMs (others stay for their host).
    fn take_notifications(&self) -> Vec<Notify> {
        let mut w = lock(&self.world);
        let (mine, others): (Vec<Notify>, Vec<Notify>) = std::mem::take(&mut w.notify)
            .into_iter()
            .partition(|Notify::QueueReady { host, .. }| *host == self.host_id);
        w.notify = others;
        mine
    }

    /// Delivers what other plugins of the process left for this host (queue notifications).
    pub fn run_pending(&mut self) {
        for w in 0..self.vms.len() {
            self.after_callback(w);
        }
    }

    /// After a root-level callback acting on a stream (callout response, tick, queue):
    /// local replies asked for from it.
    pub(super) fn after_stream_effects(&mut self, worker: usize, _context: u32) {
        self.after_callback(worker);
    }
}
