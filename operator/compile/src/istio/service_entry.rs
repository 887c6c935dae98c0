//! `networking.istio.io` ServiceEntry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Object;

/// An Istio ServiceEntry.
pub type ServiceEntry = Object<ServiceEntrySpec>;

/// `ServiceEntry.spec` (E-1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Hosts (FQDN, wildcard allowed).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Virtual IPs (unused at a gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// `MESH_EXTERNAL` | `MESH_INTERNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `NONE` (default) | `STATIC` | `DNS` | `DNS_ROUND_ROBIN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    /// Visibility; `None` = everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_to: Option<Vec<String>>,
    /// Names an upstream's TLS certificate must carry when a DestinationRule originating TLS
    /// gives none (S-7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// `ServicePort`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port number.
    #[serde(default)]
    pub number: u32,
    /// Protocol (`HTTP`, `HTTP2`, `GRPC`, `HTTPS`, `TLS`, `TCP`, …).
    #[serde(default)]
    pub protocol: String,
    /// Port name (keys `WorkloadEntry.ports`).
    #[serde(default)]
    pub name: String,
    /// Endpoint port when endpoints do not override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// `WorkloadEntry` (inline endpoint).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// IP or hostname.
    #[serde(default)]
    pub address: String,
    /// Port name → endpoint port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Labels (DestinationRule subsets select on them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network (unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Locality (unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Weight (unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}
