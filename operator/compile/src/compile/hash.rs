//! The content hash that becomes `configVersion`.

use portcullis_core::wire::WireConfig;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::EnvoyPlan;

/// `sha256:<hex>` over the canonical JSON of the wire config (with an empty `configVersion`)
/// and the Envoy plan. Private keys are skipped by the plan's JSON, so they are hashed
/// separately: rotating a key must change the version.
pub(super) fn content_hash(wire: &WireConfig, envoy: &EnvoyPlan) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        wire: &'a WireConfig,
        envoy: &'a EnvoyPlan,
    }
    let mut hasher = Sha256::new();
    // Serialising plain data with string keys cannot fail; an empty buffer would still hash.
    hasher.update(serde_json::to_vec(&Canonical { wire, envoy }).unwrap_or_default());
    for listener in &envoy.listeners {
        for chain in &listener.tls_chains {
            hasher.update(b"\0key\0");
            hasher.update(chain.private_key.identity().as_bytes());
        }
    }
    for cluster in &envoy.clusters {
        if let Some(client) = cluster
            .tls
            .as_ref()
            .and_then(|t| t.client_certificate.as_ref())
        {
            hasher.update(b"\0client-key\0");
            hasher.update(client.private_key.identity().as_bytes());
        }
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}
