//! The Portcullis router: Gateway host filtering and VirtualService route selection in one pass.
//!
//! Envoy's route for the listener is a catch-all with `cluster_header: x-portcullis-cluster`;
//! this filter decides with `portcullis_core::Gateway::decide`, and `portcullis_core::apply`
//! turns the decision into Envoy headers (the chosen cluster into that header, overwriting
//! anything the client sent; rewrites; header operations); the
//! stream only maps that translation's host trait onto proxy-wasm host calls. Local answers (404, redirects, direct responses,
//! fault aborts, CORS preflights) never reach the router.

mod metrics;
mod root;
mod stream;
mod timers;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| Box::new(root::RouterRoot::with_id(context_id)));
}}
