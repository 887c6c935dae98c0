//! The stream of a filter that has no accepted configuration.
//!
//! The SDK panics (and so traps the VM) when a root context returns no HTTP or stream context,
//! so a root always returns one. Without a configuration a filter cannot do its job (host
//! filtering, routing, the egress allow-list), so the stream is refused, never passed through:
//! HTTP gets a 503 with a body saying why, a TCP connection is closed.

use portcullis_core::contract::CLUSTER_HEADER;
use proxy_wasm::traits::{Context, HttpContext, StreamContext};
use proxy_wasm::types::Action;

use crate::{host, respond};

/// A refused stream of `filter` (its name, for the answer).
#[derive(Debug, Clone, Copy)]
pub struct Unconfigured {
    filter: &'static str,
}

impl Unconfigured {
    /// The refusing stream of `filter`.
    pub fn new(filter: &'static str) -> Self {
        Unconfigured { filter }
    }
}

impl Context for Unconfigured {}

impl HttpContext for Unconfigured {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // Nothing downstream of this filter may route on a client-sent cluster header.
        host::remove_request_header(CLUSTER_HEADER);
        let body = format!(
            "portcullis {}: no valid configuration; request refused\n",
            self.filter
        );
        respond::send_text(503, &[], &body);
        Action::Pause
    }
}

impl StreamContext for Unconfigured {
    fn on_new_connection(&mut self) -> Action {
        host::close_downstream();
        Action::Pause
    }

    fn on_downstream_data(&mut self, _data_size: usize, _end_of_stream: bool) -> Action {
        Action::Pause
    }
}
