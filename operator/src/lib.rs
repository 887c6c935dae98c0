//! Portcullis: Istio resources compiled into the filters' wire config and the Envoy plan, and the
//! local gateway that runs them.

pub mod envoy;
pub mod local;
pub mod plan;
