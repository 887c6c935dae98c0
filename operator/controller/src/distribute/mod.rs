//! Distribution modes: how a GatewayFilter's compiled configuration reaches its gateways.
//!
//! - `Xds` (the default): the controller's own xDS server delivers; nothing is written, and
//!   each proxy's ACK is reported.
//! - `IstioWasmPlugin` ([`istio`]): for istiod-managed gateways, one `WasmPlugin` per filter
//!   module.
//! - `ConfigMap` ([`config_map`]): one ConfigMap of Envoy's file-based xDS documents, for
//!   Envoys that mount it.
//!
//! The last two report nothing back per proxy, so `Programmed` says the objects are applied,
//! not that proxies run them. Building the objects is pure; [`Applier`] writes them with
//! server-side apply under the controller's field manager, owned by the GatewayFilter
//! (deleting it deletes them), and skips a write whose configuration hash it already applied.

mod apply;
pub mod config_map;
pub mod istio;

use kube::{Resource, ResourceExt};
use portcullis_xds::{Compiled, ProxyDefaults};
use serde_json::{Value, json};

use crate::crd::{Distribution, GatewayFilter};

pub use apply::{Applier, read};

/// The annotation carrying the configuration hash an object was written for.
pub const HASH_ANNOTATION: &str = "portcullis.dev/config-hash";

/// What distributions know besides the compiled configuration.
#[derive(Clone, Debug)]
pub struct Environment {
    /// Where gateways fetch the modules from this controller, as they reach it, e.g.
    /// `http://portcullis.portcullis-system:15010` (Istio mode).
    pub module_url: Option<String>,
    /// How the proxies' configuration is rendered: bind address, access log, and the modules
    /// this controller serves.
    pub proxy: ProxyDefaults,
}

/// Why a GatewayFilter's objects cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unbuildable {
    /// The resources do not compile for the workload.
    #[error("nothing to distribute: the resources do not compile for this workload")]
    NotCompiled,
    /// Istio mode needs a URL the gateways can fetch modules from.
    #[error("the controller has no --module-url: istio-agent cannot fetch the modules")]
    NoModuleUrl,
    /// The modules are not served by this controller.
    #[error("the controller serves no modules (run it with --wasm-dir)")]
    NoModules,
    /// Rendering for the distribution failed.
    #[error("rendering the Envoy configuration failed: {0}")]
    Render(String),
    /// A ConfigMap would carry TLS material.
    #[error(
        "the configuration needs TLS material ({}), which a ConfigMap must not carry (anyone who may read ConfigMaps in the namespace would read private keys): use distribution Xds, which delivers it as SDS secrets",
        .0.join(", ")
    )]
    TlsMaterial(Vec<String>),
    /// A ConfigMap would exceed the API server's limit.
    #[error(
        "the Envoy configuration is {bytes} bytes, more than a ConfigMap holds ({limit} bytes): use distribution Xds"
    )]
    TooLarge {
        /// The size of the documents.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// An object a distribution reads back before writing its next version: `(apiVersion, kind,
/// name)` in the GatewayFilter's namespace.
pub type ObjectName = (&'static str, &'static str, String);

/// A way of carrying compiled configuration to a workload's gateways.
pub trait Distributor: Send + Sync {
    /// The Kubernetes objects to write for `compiled` (none when the mode delivers by itself),
    /// given `previous`, the object named by [`Distributor::previous`] as the API has it.
    fn objects(
        &self,
        filter: &GatewayFilter,
        compiled: &Compiled,
        environment: &Environment,
        previous: Option<&Value>,
    ) -> Result<Vec<Value>, Unbuildable>;

    /// The object whose current version the next one depends on, if any.
    fn previous(&self, _filter: &GatewayFilter) -> Option<ObjectName> {
        None
    }

    /// What `Programmed` adds to "applied": what the mode cannot report.
    fn applied_note(&self) -> &'static str;
}

/// The controller's own xDS server delivers: nothing to write.
#[derive(Debug)]
pub struct Xds;

impl Distributor for Xds {
    fn objects(
        &self,
        _: &GatewayFilter,
        _: &Compiled,
        _: &Environment,
        _: Option<&Value>,
    ) -> Result<Vec<Value>, Unbuildable> {
        Ok(Vec::new())
    }

    fn applied_note(&self) -> &'static str {
        "each proxy reports what it runs"
    }
}

/// The distributor of a mode.
pub fn distributor(mode: Distribution) -> &'static dyn Distributor {
    match mode {
        Distribution::Xds => &Xds,
        Distribution::IstioWasmPlugin => &istio::IstioWasmPlugin,
        Distribution::ConfigMap => &config_map::ConfigMapFiles,
    }
}

/// The objects a GatewayFilter's distribution mode needs for `compiled` (none for xDS), after
/// `previous` (see [`Distributor::previous`]).
pub fn objects(
    filter: &GatewayFilter,
    compiled: &Compiled,
    environment: &Environment,
    previous: Option<&Value>,
) -> Result<Vec<Value>, Unbuildable> {
    distributor(filter.spec.distribution).objects(filter, compiled, environment, previous)
}

/// The metadata every distributed object carries: its name and namespace, the controller's
/// label, the configuration hash, and the GatewayFilter as its controlling owner.
fn metadata(filter: &GatewayFilter, name: String, hash: &str) -> Value {
    json!({
        "name": name,
        "namespace": filter.namespace().unwrap_or_default(),
        "labels": {"app.kubernetes.io/managed-by": crate::reconcile::FIELD_MANAGER},
        "annotations": {HASH_ANNOTATION: hash},
        "ownerReferences": [owner(filter)],
    })
}

fn owner(filter: &GatewayFilter) -> Value {
    json!({
        "apiVersion": GatewayFilter::api_version(&()),
        "kind": GatewayFilter::kind(&()),
        "name": filter.name_any(),
        "uid": filter.uid().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}
