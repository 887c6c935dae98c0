//! Fault delays: paused streams resumed from the root context's tick.
//!
//! proxy-wasm has no per-stream timer. A delayed stream pauses in its request headers and
//! registers here; the root context's tick resumes every stream whose time has come, switching
//! to it with `set_effective_context` first.

use std::time::Duration;

use portcullis_glue::{abi, host};

/// Streams waiting for their delay to end.
#[derive(Debug, Default)]
pub struct Timers {
    /// (due time in ms since the epoch, stream context id), unordered; it stays small.
    pending: Vec<(u64, u32)>,
}

impl Timers {
    /// Schedules `context_id` to resume at `due_ms` and arms the tick.
    pub fn schedule(&mut self, context_id: u32, due_ms: u64, now_ms: u64) {
        self.pending.push((due_ms, context_id));
        self.arm(now_ms);
    }

    /// Forgets a stream that ended before its delay did.
    pub fn cancel(&mut self, context_id: u32) {
        self.pending.retain(|(_, id)| *id != context_id);
    }

    /// Resumes every due stream, then re-arms the tick for the next one (or disarms it).
    pub fn fire(&mut self, now_ms: u64, root_context_id: u32) {
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .pending
            .iter()
            .partition(|(due_ms, _)| *due_ms <= now_ms);
        self.pending = waiting;
        for (_, context_id) in due {
            // The stream may be gone (client reset); the host then refuses the switch.
            if abi::set_effective_context(context_id).is_ok() {
                let _ = abi::resume_http_request();
            }
        }
        let _ = abi::set_effective_context(root_context_id);
        self.arm(now_ms);
    }

    fn arm(&self, now_ms: u64) {
        match self.pending.iter().map(|(due, _)| *due).min() {
            Some(next) => {
                // The host's tick period is a u32 of milliseconds: a longer wait is re-armed
                // when the tick fires, never truncated (a truncation to 0 would disarm it).
                let wait = next.saturating_sub(now_ms).clamp(1, u64::from(u32::MAX));
                host::set_tick_period(Duration::from_millis(wait));
            }
            None => host::set_tick_period(Duration::ZERO),
        }
    }
}
