//! The Portcullis egress filter: the egress gateway as the mesh's single, audited exit.
//!
//! Two root ids in one module:
//! - `egress_audit` (HTTP filter): enforces the allow-list (REGISTRY_ONLY: hosts from the egress
//!   Gateway and ServiceEntries), answers a deny with a body that says why, and writes one
//!   audit record per request in `on_log`;
//! - `egress_audit_tcp` (network filter): the same for TLS passthrough egress, by SNI.
//!
//! Records go to Envoy's log or, batched through a shared queue and the root's tick, to an HTTP
//! collector (see [`pipeline`]).

mod http;
mod ledger;
mod metrics;
mod pipeline;
mod record;
mod root;
mod tcp;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| Box::new(root::EgressRoot::new(context_id)));
}}
