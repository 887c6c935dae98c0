//! Istio resources to Portcullis configuration.
