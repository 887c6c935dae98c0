//! Distribution modes other than xDS: the Kubernetes objects that carry a GatewayFilter's
//! compiled configuration to gateways this controller does not serve itself.
//!
//! - `IstioWasmPlugin`: for istiod-managed gateways, one `extensions.istio.io/v1alpha1`
//!   `WasmPlugin` per filter module, selecting the workload, with the compiled configuration as
//!   `pluginConfig` and the module's URL (served by this controller at `/modules/<sha256>`)
//!   and SHA-256, which istio-agent checks before Envoy loads it. Istio reports nothing back
//!   per proxy, so `Programmed` says the objects are applied, not that proxies run them.
//!
//! [`objects`] is pure; [`Applier`] writes them with server-side apply under the controller's
//! field manager, owned by the GatewayFilter (deleting it deletes them), and skips a write
//! whose configuration hash it already applied.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Resource, ResourceExt};
use portcullis_core::contract;
use portcullis_xds::{Compiled, ModuleSource};
use serde_json::{Value, json};

use crate::crd::{Distribution, FailurePolicy, GatewayFilter};
use crate::reconcile::FIELD_MANAGER;

/// The annotation carrying the configuration hash an object was written for.
pub const HASH_ANNOTATION: &str = "portcullis.dev/config-hash";

/// Where gateways fetch the modules from (this controller's HTTP endpoint, as they reach it).
#[derive(Clone, Debug)]
pub struct ModuleUrls {
    /// e.g. `http://portcullis.portcullis-system:15010`.
    pub base: Option<String>,
    /// The modules and their hashes.
    pub modules: ModuleSource,
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
}

/// A way of carrying compiled configuration to a workload's gateways.
pub trait Distributor: Send + Sync {
    /// The Kubernetes objects to write for `compiled` (none when the mode delivers by itself).
    fn objects(
        &self,
        filter: &GatewayFilter,
        compiled: &Compiled,
        urls: &ModuleUrls,
    ) -> Result<Vec<Value>, Unbuildable>;
}

/// The controller's own xDS server delivers: nothing to write.
#[derive(Debug)]
pub struct Xds;

impl Distributor for Xds {
    fn objects(
        &self,
        _: &GatewayFilter,
        _: &Compiled,
        _: &ModuleUrls,
    ) -> Result<Vec<Value>, Unbuildable> {
        Ok(Vec::new())
    }
}

/// One Istio `WasmPlugin` per filter module, for istiod-managed gateways.
#[derive(Debug)]
pub struct IstioWasmPlugin;

impl Distributor for IstioWasmPlugin {
    fn objects(
        &self,
        filter: &GatewayFilter,
        compiled: &Compiled,
        urls: &ModuleUrls,
    ) -> Result<Vec<Value>, Unbuildable> {
        wasm_plugins(filter, compiled, urls)
    }
}

/// The distributor of a mode; `None` for a mode that is not implemented (`ConfigMap`, refused
/// in the GatewayFilter's status).
pub fn distributor(mode: Distribution) -> Option<&'static dyn Distributor> {
    match mode {
        Distribution::Xds => Some(&Xds),
        Distribution::IstioWasmPlugin => Some(&IstioWasmPlugin),
        Distribution::ConfigMap => None,
    }
}

/// The objects a GatewayFilter's distribution mode needs for `compiled` (none for xDS and for
/// modes that are not implemented).
pub fn objects(
    filter: &GatewayFilter,
    compiled: &Compiled,
    urls: &ModuleUrls,
) -> Result<Vec<Value>, Unbuildable> {
    match distributor(filter.spec.distribution) {
        Some(d) => d.objects(filter, compiled, urls),
        None => Ok(Vec::new()),
    }
}

fn wasm_plugins(
    filter: &GatewayFilter,
    compiled: &Compiled,
    urls: &ModuleUrls,
) -> Result<Vec<Value>, Unbuildable> {
    let (Some(wire), Some(snapshot)) = (&compiled.wire, &compiled.snapshot) else {
        return Err(Unbuildable::NotCompiled);
    };
    let base = urls.base.as_deref().ok_or(Unbuildable::NoModuleUrl)?;
    let ModuleSource::Served {
        router,
        egress_audit,
    } = &urls.modules
    else {
        return Err(Unbuildable::NoModules);
    };
    let config = serde_json::to_value(wire.as_ref()).unwrap_or(Value::Null);
    let mut plugins = vec![("router", contract::ROUTER_ROOT_ID, router)];
    if wire.egress.is_some() {
        let audit = egress_audit.as_ref().ok_or(Unbuildable::NoModules)?;
        plugins.push(("egress-audit", contract::EGRESS_AUDIT_ROOT_ID, audit));
    }
    let fail_strategy = match filter.spec.failure_policy {
        FailurePolicy::FailClose => "FAIL_CLOSE",
        FailurePolicy::FailOpen => "FAIL_OPEN",
        FailurePolicy::FailReload => "FAIL_RELOAD",
    };
    Ok(plugins
        .into_iter()
        .map(|(suffix, root_id, module)| {
            json!({
                "apiVersion": "extensions.istio.io/v1alpha1",
                "kind": "WasmPlugin",
                "metadata": {
                    "name": format!("portcullis-{}-{suffix}", filter.name_any()),
                    "namespace": filter.namespace().unwrap_or_default(),
                    "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
                    "annotations": {HASH_ANNOTATION: snapshot.version},
                    "ownerReferences": [owner(filter)],
                },
                "spec": {
                    "selector": {"matchLabels": filter.spec.selector.match_labels},
                    "url": format!("{}/modules/{}", base.trim_end_matches('/'), module.sha256),
                    "sha256": module.sha256,
                    "pluginName": root_id,
                    "pluginConfig": config,
                    "failStrategy": fail_strategy,
                    "type": "HTTP",
                },
            })
        })
        .collect())
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

/// Writes distributed objects, each once per configuration hash.
#[derive(Debug, Default)]
pub struct Applier {
    applied: Mutex<BTreeMap<(String, String, String), String>>,
}

impl Applier {
    /// Applies each object not yet applied at its hash; returns how many were written.
    pub async fn apply(
        &self,
        client: &kube::Client,
        objects: &[Value],
    ) -> Result<usize, kube::Error> {
        let mut written = 0;
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default().to_string();
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let hash = object["metadata"]["annotations"][HASH_ANNOTATION]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let key = (kind.clone(), namespace.clone(), name.clone());
            if self
                .applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                == Some(&hash)
            {
                continue;
            }
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &resource);
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(object),
            )
            .await?;
            self.applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, hash);
            written += 1;
        }
        Ok(written)
    }
}
