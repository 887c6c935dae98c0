//! Portcullis core: the pure decision logic shared by the proxy-wasm filters, the operator, the
//! wasmtime test host and any offline tool.
//!
//! Layers, converted at named edges:
//! 1. [`wire`]: the versioned wire format (serde), the contract with the operator;
//! 2. [`Gateway`] and [`EgressPolicy`]: the wire config compiled once into indexed matchers;
//! 3. [`Decision`] / [`EgressDecision`]: per-request results that carry their evidence.
//!
//! Invariants: no I/O, no clock, no randomness of its own (callers pass an [`Entropy`]), no
//! proxy-wasm, kube or async runtime; regexes are compiled only in `compile`; the data-plane
//! path never panics.

pub mod abi_map;
pub mod apply;
pub mod audit;
pub mod contract;
mod decision;
pub mod egress;
mod error;
mod gateway;
pub mod host;
mod request;
mod route;
pub mod strmatch;
mod validate;
pub mod wire;

pub use decision::*;
pub use egress::{EgressDecision, EgressPolicy};
pub use error::ConfigError;
pub use gateway::Gateway;
pub use request::*;
pub use validate::validate;

/// Source of randomness for weighted choices and percentages. The core never draws randomness
/// itself, so decisions are reproducible in tests.
pub trait Entropy {
    /// A uniformly distributed 32-bit value.
    fn next_u32(&mut self) -> u32;
}

/// A small deterministic generator (SplitMix64) for callers without a better source.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl Entropy for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}
