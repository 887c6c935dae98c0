//! Portcullis: Istio resources compiled into the filters' wire config and the Envoy plan, and the
//! local gateway that runs them.

mod base64;
pub mod cli;
pub mod compile;
pub mod diagnostics;
pub mod envoy;
pub mod explain;
pub mod istio;
pub mod load;
pub mod local;
pub mod plan;
