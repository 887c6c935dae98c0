//! Portcullis's xDS server: the compiled configuration delivered to each gateway Envoy over
//! one aggregated gRPC stream (ADS), step by step in make-before-break order, each step
//! confirmed by that proxy's ACK; a NACK rolls the proxy back to its last good configuration.
//!
//! - [`session`]: one proxy's stream as a pure state machine;
//! - [`resource`]: the xDS types served and what a response of each holds.

pub mod resource;
pub mod session;
