//! The network-filter model: data in each direction, pausing and resuming it, peer closes
//! and the end of the connection (`on_done`, `on_log`, `on_delete`).

use crate::state::Callback;

use super::{Cb, FailurePolicy, Host, StreamId, TcpRecord};

impl Host {
    pub(super) fn tcp_result(&mut self, id: StreamId, r: Cb, upstream: Option<bool>) {
        let paused = matches!(r, Cb::Ret(Some(1)));
        if let Cb::Trapped = r {
            if self.cfg.failure_policy == FailurePolicy::FailReload {
                self.schedule_reload(id.worker);
            }
            if let Some(t) = self.tcp.get_mut(&id) {
                t.filter_skipped = true;
                if self.cfg.failure_policy != FailurePolicy::FailOpen {
                    t.closed_by_host = true;
                }
            }
        }
        let Some(upstream) = upstream else { return };
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        if upstream {
            s.upstream_paused = paused;
            if !paused {
                let data = std::mem::take(&mut s.upstream);
                s.forwarded_upstream.extend(data);
            }
        } else {
            s.downstream_paused = paused;
            if !paused {
                let data = std::mem::take(&mut s.downstream);
                s.forwarded_downstream.extend(data);
            }
        }
    }

    pub(super) fn tcp_resume(&mut self, id: StreamId, stream: u32) {
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        if stream == 2 {
            s.downstream_paused = false;
            let data = std::mem::take(&mut s.downstream);
            s.forwarded_downstream.extend(data);
        } else {
            s.upstream_paused = false;
            let data = std::mem::take(&mut s.upstream);
            s.forwarded_upstream.extend(data);
        }
    }

    pub(super) fn tcp_data(&mut self, id: StreamId, upstream: bool, data: &[u8], eos: bool) {
        let skipped = self
            .tcp
            .get(&id)
            .is_none_or(|t| t.filter_skipped || t.closed_by_host);
        let Some(s) = self.vms[id.worker]
            .store
            .data_mut()
            .tcp
            .get_mut(&id.context)
        else {
            return;
        };
        let buf = if upstream {
            &mut s.upstream
        } else {
            &mut s.downstream
        };
        buf.extend_from_slice(data);
        let size = buf.len() as i32;
        let r = if skipped {
            Cb::Skipped
        } else if upstream {
            self.call(
                id.worker,
                Callback::UpstreamData,
                id.context,
                "proxy_on_upstream_data",
                &[id.context as i32, size, eos as i32],
            )
        } else {
            self.call(
                id.worker,
                Callback::DownstreamData,
                id.context,
                "proxy_on_downstream_data",
                &[id.context as i32, size, eos as i32],
            )
        };
        self.tcp_result(id, r, Some(upstream));
        self.after_callback(id.worker);
    }

    pub(super) fn tcp_close(&mut self, id: StreamId, upstream: bool) {
        let (cb, name) = if upstream {
            (
                Callback::UpstreamClose,
                "proxy_on_upstream_connection_close",
            )
        } else {
            (
                Callback::DownstreamClose,
                "proxy_on_downstream_connection_close",
            )
        };
        let skipped = self.tcp.get(&id).is_none_or(|t| t.filter_skipped);
        if !skipped {
            // PeerType: Remote (2) — the peer closed.
            let _ = self.call(id.worker, cb, id.context, name, &[id.context as i32, 2]);
            self.after_callback(id.worker);
        }
        let both = match self.tcp.get_mut(&id) {
            Some(t) => {
                if upstream {
                    t.upstream_closed = true;
                } else {
                    t.downstream_closed = true;
                }
                t.upstream_closed && t.downstream_closed
            }
            None => false,
        };
        if both {
            let skipped = self.tcp.get(&id).is_none_or(|t| t.filter_skipped);
            if !skipped {
                let _ = self.call(
                    id.worker,
                    Callback::Done,
                    id.context,
                    "proxy_on_done",
                    &[id.context as i32],
                );
                let _ = self.call(
                    id.worker,
                    Callback::Log,
                    id.context,
                    "proxy_on_log",
                    &[id.context as i32],
                );
                let _ = self.call(
                    id.worker,
                    Callback::Delete,
                    id.context,
                    "proxy_on_delete",
                    &[id.context as i32],
                );
            }
            let d = self.vms[id.worker].store.data_mut();
            let state = d.tcp.remove(&id.context);
            d.contexts.remove(&id.context);
            if let (Some(t), Some(s)) = (self.tcp.get_mut(&id), state) {
                t.state = s;
                t.deleted = true;
            }
        }
    }

    pub(super) fn tcp_record(&self, id: StreamId) -> TcpRecord {
        let mut rec = self.tcp.get(&id).cloned().unwrap_or_default();
        if let Some(s) = self.vms[id.worker].store.data().tcp.get(&id.context) {
            rec.state = s.clone();
        }
        rec
    }
}
