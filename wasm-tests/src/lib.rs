//! A proxy-wasm ABI v0.2.1 host on wasmtime, faithful to Envoy (proxy-wasm-cpp-host).
//!
//! Tests load a module once ([`WasmModule::load`]), build a [`Host`] (one VM per worker,
//! shared data and queues per `vm_id`, a virtual clock, seeded randomness), drive HTTP or
//! TCP streams through it and assert on the recorded state: headers, bodies, local replies,
//! the upstream cluster picked by the route model, logs, metrics, callouts, route-cache
//! clears, fuel and memory.
//!
//! Architecture invariants: no global mutable state except the compile caches (tests run
//! in parallel); no `unsafe`; host calls never panic, they return a status or trap.

pub mod abi;
pub mod artifacts;
mod host;
mod hostcalls;
mod module;
pub mod properties;
pub mod records;
pub mod routes;
mod state;
mod vm;
mod wasi;

pub use abi::{LogLevel, Status};
pub use host::*;
pub use module::{AbiVersion, WasmModule};
pub use properties::PropertyValue;
pub use records::*;
pub use routes::{Route, RouteAction, RouteDecision, VirtualHost};
pub use state::{Direction, HttpState, Phase, TcpState};
pub use vm::CallbackCost;
