//! Portcullis in a cluster: watches the Istio resources users `kubectl apply`
//! (`networking.istio.io/v1` Gateway, VirtualService, ServiceEntry, DestinationRule), the TLS
//! Secrets the Gateways name and [`crd::GatewayFilter`]s; feeds the in-process xDS server that
//! the gateway Envoys connect to; reports on each GatewayFilter what its workload runs.
//!
//! - [`watch`]: reflector stores, filled by watches (the only reads of the API);
//! - [`inputs`]: pure, the stores' contents as compile inputs, order-independent;
//! - [`publish`]: debounced publication to the xDS server;
//! - [`status`]: pure, a GatewayFilter's status from compile results and proxy ACKs;
//! - [`reconcile`]: the kube-runtime Controller's reconciler (status writes, events);
//! - [`distribute`]: the objects of distributions other than xDS (Istio `WasmPlugin`s);
//! - [`leader`]: Lease-based leader election (pure policy plus a small loop);
//! - [`run`]: everything wired together.

pub mod crd;
pub mod distribute;
pub mod inputs;
pub mod leader;
pub mod metrics;
pub mod publish;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod watch;

pub use crd::{GatewayFilter, GatewayFilterSpec, GatewayFilterStatus};
pub use run::{Config, Running, run};

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
mod tests;
