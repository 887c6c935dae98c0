//! `portcullis up`: a local gateway. Compile a directory of Istio resources, run Envoy with
//! the filters, and apply every change of the directory live.
//!
//! - [`audit_flush`]: waiting for the egress filter's audit records before Envoy stops.
//! - [`compiler`]: the port to the compiler (`DIR` → wire config + Envoy plan).
//! - [`gateway`]: one running Envoy with its files; starting it and applying new configs.
//! - [`watch`]: polling the directory for changes.
//! - [`demo`]: echo upstreams for STATIC 127.0.0.1 endpoints.
//! - [`up`]: the loop tying them together, with Ctrl-C handling.

pub mod audit_flush;
pub mod compiler;
pub mod demo;
pub mod gateway;
pub mod up;
pub mod watch;

pub use audit_flush::AuditFlush;
pub use compiler::{Compiled, Compiler};
pub use gateway::{ApplyReport, GatewayOptions, LocalGateway, ModuleDelivery};
pub use up::{UpOptions, run_up};
