//! The test's handle on a TCP connection through a network filter: [`TcpConnection`] and
//! the [`TcpRecord`] it returns after each step.

use std::fmt;

use anyhow::Result;

use crate::state::{Callback, TcpState};

use super::{Cb, Host, StreamId};

/// Host-side record of a TCP connection.
#[derive(Debug, Clone, Default)]
pub struct TcpRecord {
    pub id: Option<StreamId>,
    pub filter_skipped: bool,
    pub closed_by_host: bool,
    /// Stream types (2 downstream, 3 upstream) the filter closed with `proxy_close_stream`.
    pub closed_by_filter: Vec<u32>,
    pub downstream_closed: bool,
    pub upstream_closed: bool,
    pub deleted: bool,
    pub state: TcpState,
}

/// A live TCP connection through a network filter.
pub struct TcpConnection<'h> {
    host: &'h mut Host,
    id: StreamId,
}

impl fmt::Debug for TcpConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnection")
            .field("record", &self.record())
            .finish()
    }
}

impl<'h> TcpConnection<'h> {
    pub fn id(&self) -> StreamId {
        self.id
    }
    pub fn host(&mut self) -> &mut Host {
        &mut *self.host
    }
    pub fn downstream_data(&mut self, data: &[u8], end_of_stream: bool) -> TcpRecord {
        self.host.tcp_data(self.id, false, data, end_of_stream);
        self.record()
    }
    pub fn upstream_data(&mut self, data: &[u8], end_of_stream: bool) -> TcpRecord {
        self.host.tcp_data(self.id, true, data, end_of_stream);
        self.record()
    }
    pub fn close_downstream(&mut self) -> TcpRecord {
        self.host.tcp_close(self.id, false);
        self.record()
    }
    pub fn close_upstream(&mut self) -> TcpRecord {
        self.host.tcp_close(self.id, true);
        self.record()
    }
    pub fn record(&self) -> TcpRecord {
        self.host.tcp_record(self.id)
    }
}

// === impl Host ===

impl Host {
    /// Starts a TCP connection on the next worker.
    pub fn tcp_connection(&mut self) -> Result<TcpConnection<'_>> {
        let worker = self.next_worker % self.cfg.workers;
        self.next_worker += 1;
        self.prepare_worker(worker)?;
        let ctx = self.alloc_context(worker);
        let root = self.roots[worker];
        let id = StreamId {
            worker,
            context: ctx,
        };
        {
            let d = self.vms[worker].store.data_mut();
            d.contexts.insert(ctx, root);
            d.tcp.insert(
                ctx,
                TcpState {
                    root,
                    ..Default::default()
                },
            );
        }
        self.tcp.insert(
            id,
            TcpRecord {
                id: Some(id),
                ..Default::default()
            },
        );
        let skipped = matches!(
            self.call(
                worker,
                Callback::ContextCreate,
                ctx,
                "proxy_on_context_create",
                &[ctx as i32, root as i32]
            ),
            Cb::Skipped | Cb::Trapped
        );
        if !skipped {
            let r = self.call(
                worker,
                Callback::NewConnection,
                ctx,
                "proxy_on_new_connection",
                &[ctx as i32],
            );
            self.tcp_result(id, r, None);
        }
        self.after_callback(worker);
        Ok(TcpConnection { host: self, id })
    }
}
