//! The virtual clock: advancing it fires ticks and HTTP/gRPC callout deadlines in time
//! order; [`Host::tick`] fires ticks without moving it.

use crate::records::GrpcCallout;
use crate::state::{Callback, lock};

use super::Host;

impl Host {
    /// Advances the virtual clock by `ms`, firing ticks and callout timeouts in time order.
    pub fn advance(&mut self, ms: u64) {
        let target = lock(&self.world).now_ms() + ms;
        loop {
            let mut next: Option<u64> = None;
            for vm in &self.vms {
                for (_, due) in vm.store.data().ticks.values() {
                    next = Some(next.map_or(*due, |n| n.min(*due)));
                }
            }
            {
                let w = lock(&self.world);
                let me = self.host_id;
                let http = w
                    .callouts
                    .values()
                    .filter(|c| c.host == me)
                    .filter_map(|c| c.deadline_ms);
                let grpc = w
                    .grpc
                    .values()
                    .filter(|g| g.host == me && !g.cancelled)
                    .filter_map(|g| g.deadline_ms);
                for d in http.chain(grpc) {
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
            }
            let Some(t) = next.filter(|t| *t <= target) else {
                break;
            };
            lock(&self.world).elapsed_ns = t * 1_000_000;
            for w in 0..self.vms.len() {
                let due: Vec<u32> = self.vms[w]
                    .store
                    .data()
                    .ticks
                    .iter()
                    .filter(|(_, (_, d))| *d <= t)
                    .map(|(r, _)| *r)
                    .collect();
                for root in due {
                    if let Some(e) = self.vms[w].store.data_mut().ticks.get_mut(&root) {
                        e.1 = t + e.0;
                    }
                    let _ = self.call(w, Callback::Tick, root, "proxy_on_tick", &[root as i32]);
                    self.after_callback(w);
                }
            }
            let expired: Vec<u32> = lock(&self.world)
                .callouts
                .values()
                .filter(|c| c.host == self.host_id && c.deadline_ms.is_some_and(|d| d <= t))
                .map(|c| c.token)
                .collect();
            for token in expired {
                self.fail_callout(token);
            }
            let expired: Vec<GrpcCallout> = lock(&self.world)
                .grpc
                .values()
                .filter(|g| {
                    g.host == self.host_id && !g.cancelled && g.deadline_ms.is_some_and(|d| d <= t)
                })
                .cloned()
                .collect();
            for g in expired {
                // gRPC DEADLINE_EXCEEDED.
                self.grpc_deliver(&g, Callback::GrpcClose, None, None, None, Some(4));
                lock(&self.world).grpc.remove(&g.token);
            }
        }
        lock(&self.world).elapsed_ns = target * 1_000_000;
    }

    /// Fires the tick of every root now, without moving the clock.
    pub fn tick(&mut self) {
        for w in 0..self.vms.len() {
            let roots: Vec<u32> = self.vms[w].store.data().ticks.keys().copied().collect();
            for root in roots {
                let _ = self.call(w, Callback::Tick, root, "proxy_on_tick", &[root as i32]);
                self.after_callback(w);
            }
        }
    }
}
