//! Istio (and Kubernetes) resource types, as read from YAML or, later, from the API server.
//!
//! Only the fields the compiler reads are modelled; anything else is tolerated (serde ignores
//! it) and reported by the loader as a warning. The shapes follow the CRDs of
//! `networking.istio.io` v1, v1beta1 and v1alpha3, which are identical. Every resource keeps the
//! Kubernetes envelope (`apiVersion`, `kind`, `metadata`) so the same types can be used with kube.

mod destination_rule;
mod gateway;
mod meta;
mod secret;
mod service_entry;
mod virtual_service;

pub use destination_rule::*;
pub use gateway::*;
pub use meta::*;
pub use secret::*;
pub use service_entry::*;
pub use virtual_service::*;

pub use crate::base64::Base64Error;

/// The API group of the Istio networking resources.
pub const ISTIO_GROUP: &str = "networking.istio.io";

/// API versions accepted for the Istio kinds (identical schemas).
pub const ISTIO_VERSIONS: [&str; 3] = ["v1", "v1beta1", "v1alpha3"];

/// Every resource the compiler reads. Order does not matter: `compile` sorts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// Istio Gateways.
    pub gateways: Vec<Gateway>,
    /// Istio VirtualServices.
    pub virtual_services: Vec<VirtualService>,
    /// Istio ServiceEntries.
    pub service_entries: Vec<ServiceEntry>,
    /// Istio DestinationRules.
    pub destination_rules: Vec<DestinationRule>,
    /// Kubernetes Secrets (TLS credentials referenced by `credentialName`).
    pub secrets: Vec<Secret>,
}

impl Resources {
    /// Appends every resource of `other`.
    pub fn extend(&mut self, other: Resources) {
        self.gateways.extend(other.gateways);
        self.virtual_services.extend(other.virtual_services);
        self.service_entries.extend(other.service_entries);
        self.destination_rules.extend(other.destination_rules);
        self.secrets.extend(other.secrets);
    }
}
