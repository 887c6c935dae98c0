//! Host calls answered with a status the test chooses: how a filter behaves when Envoy
//! refuses a call, or answers with a status code the filter's SDK does not know. A forced call
//! is not carried out (no memory written, no state changed) and is recorded in the trace with
//! the forced code.

use crate::state::lock;

use super::Host;

impl Host {
    /// From now on, every `call` (a `proxy_*` import name, such as
    /// `"proxy_get_header_map_value"`) returns the raw status `code` to the guest.
    pub fn force_status(&self, call: &str, code: u32) {
        lock(&self.world)
            .forced_statuses
            .insert(call.to_string(), code);
    }

    /// Host calls are carried out again.
    pub fn clear_forced_statuses(&self) {
        lock(&self.world).forced_statuses.clear();
    }
}
