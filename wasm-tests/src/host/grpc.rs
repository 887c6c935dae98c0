//! gRPC callouts from the test's side: unary answers, stream events ([`GrpcEvent`]) and
//! deadline expiry, delivered as `proxy_on_grpc_*` callbacks.

use anyhow::{Result, bail};

use crate::records::GrpcCallout;
use crate::state::{Callback, Pairs, lock};

use super::Host;

/// gRPC stream events a test can deliver.
#[derive(Debug, Clone)]
pub enum GrpcEvent {
    InitialMetadata(Vec<(String, String)>),
    Message(Vec<u8>),
    TrailingMetadata(Vec<(String, String)>),
    Close(u32),
}

// === impl Host ===

impl Host {
    /// Answers a unary gRPC call: status 0 delivers `on_grpc_receive`, else `on_grpc_close`.
    pub fn answer_grpc(&mut self, token: u32, status: u32, message: &[u8]) -> Result<()> {
        let Some(g) = lock(&self.world)
            .grpc
            .get(&token)
            .filter(|g| g.host == self.host_id)
            .cloned()
        else {
            bail!("no gRPC call with token {token}");
        };
        if status == 0 {
            self.grpc_deliver(
                &g,
                Callback::GrpcReceive,
                Some(message.to_vec()),
                None,
                None,
                None,
            );
        } else {
            self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(status));
        }
        if !g.is_stream {
            lock(&self.world).grpc.remove(&token);
        }
        Ok(())
    }

    /// Delivers to a gRPC stream: initial metadata, a message, trailing metadata or close.
    pub fn grpc_stream_event(&mut self, token: u32, event: GrpcEvent) -> Result<()> {
        let Some(g) = lock(&self.world)
            .grpc
            .get(&token)
            .filter(|g| g.host == self.host_id)
            .cloned()
        else {
            bail!("no gRPC stream with token {token}");
        };
        match event {
            GrpcEvent::InitialMetadata(md) => self.grpc_deliver(
                &g,
                Callback::GrpcInitialMetadata,
                None,
                Some(md),
                None,
                None,
            ),
            GrpcEvent::Message(m) => {
                self.grpc_deliver(&g, Callback::GrpcReceive, Some(m), None, None, None)
            }
            GrpcEvent::TrailingMetadata(md) => self.grpc_deliver(
                &g,
                Callback::GrpcTrailingMetadata,
                None,
                None,
                Some(md),
                None,
            ),
            GrpcEvent::Close(status) => {
                self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(status));
                lock(&self.world).grpc.remove(&token);
            }
        }
        Ok(())
    }

    pub(super) fn grpc_deliver(
        &mut self,
        g: &GrpcCallout,
        cb: Callback,
        msg: Option<Vec<u8>>,
        init: Option<Pairs>,
        trail: Option<Pairs>,
        close: Option<u32>,
    ) {
        let w = g.worker;
        let ctx = g.context as i32;
        let token = g.token as i32;
        let (name, args): (&'static str, Vec<i32>) = match cb {
            Callback::GrpcReceive => (
                "proxy_on_grpc_receive",
                vec![ctx, token, msg.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            Callback::GrpcInitialMetadata => (
                "proxy_on_grpc_receive_initial_metadata",
                vec![ctx, token, init.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            Callback::GrpcTrailingMetadata => (
                "proxy_on_grpc_receive_trailing_metadata",
                vec![ctx, token, trail.as_ref().map_or(0, |m| m.len()) as i32],
            ),
            _ => (
                "proxy_on_grpc_close",
                vec![ctx, token, close.unwrap_or(0) as i32],
            ),
        };
        {
            let d = self.vms[w].store.data_mut();
            d.grpc_message = msg;
            d.grpc_initial = init;
            d.grpc_trailing = trail;
            d.status = close.map(|c| (c, String::new()));
            if let Some(c) = close {
                d.last_status_code = c;
            }
        }
        let _ = self.call(w, cb, g.context, name, &args);
        {
            let d = self.vms[w].store.data_mut();
            d.grpc_message = None;
            d.grpc_initial = None;
            d.grpc_trailing = None;
            d.status = None;
        }
        self.after_stream_effects(w, g.context);
    }
}
