//! Fuzz targets: one function per entry point a user or a client controls, each taking the
//! fuzzer's bytes and panicking only when an invariant breaks. `libfuzzer/` wraps each in a
//! libFuzzer target (`cargo xtask fuzz`, coverage-guided, needs a nightly toolchain); the
//! stable test `tests/corpus.rs` replays the committed corpus and a bounded set of mutations
//! of it, so every CI run exercises every target.
//!
//! Invariants checked beyond "no panic": a compile is deterministic (same input, same content
//! hash and diagnostics); a request the gateway routes was admitted by its host filter; an
//! egress decision is the same for a host written in any letter case; every audit record is
//! sent, counted as dropped, or still held.

// A fuzz target reports a broken invariant by panicking: that is how libFuzzer (and the stable
// replay test) see a finding. None of this runs in a filter.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz target reports a finding by panicking"
)]

mod input;
mod targets;

pub use input::Fields;
pub use targets::*;

/// A fuzz target: the fuzzer's bytes in, a panic out when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name, as `libfuzzer/fuzz_targets/<name>.rs` and `corpus/<name>/` name it.
pub const TARGETS: &[(&str, Target)] = &[
    ("wire_config", wire_config),
    ("istio_yaml", istio_yaml),
    ("decide", decide),
    ("egress", egress),
    ("regex", regex),
    ("audit_delivery", audit_delivery),
];
