//! `IstioWasmPlugin`: for istiod-managed gateways, one `extensions.istio.io/v1alpha1`
//! `WasmPlugin` per filter module, selecting the workload, with the compiled configuration as
//! `pluginConfig` and the module's URL (served by this controller at `/modules/<sha256>`) and
//! SHA-256, which istio-agent checks before Envoy loads it.

use kube::ResourceExt;
use portcullis_core::contract;
use portcullis_xds::{Compiled, ModuleSource};
use serde_json::{Value, json};

use super::{Distributor, Environment, Unbuildable, metadata};
use crate::crd::{FailurePolicy, GatewayFilter};

/// One Istio `WasmPlugin` per filter module.
#[derive(Debug)]
pub struct IstioWasmPlugin;

impl Distributor for IstioWasmPlugin {
    fn objects(
        &self,
        filter: &GatewayFilter,
        compiled: &Compiled,
        environment: &Environment,
        _previous: Option<&Value>,
    ) -> Result<Vec<Value>, Unbuildable> {
        wasm_plugins(filter, compiled, environment)
    }

    fn applied_note(&self) -> &'static str {
        "Istio reports no per-proxy result"
    }
}

fn wasm_plugins(
    filter: &GatewayFilter,
    compiled: &Compiled,
    environment: &Environment,
) -> Result<Vec<Value>, Unbuildable> {
    let (Some(wire), Some(snapshot)) = (&compiled.wire, &compiled.snapshot) else {
        return Err(Unbuildable::NotCompiled);
    };
    let base = environment
        .module_url
        .as_deref()
        .ok_or(Unbuildable::NoModuleUrl)?;
    let ModuleSource::Served {
        router,
        egress_audit,
    } = &environment.proxy.modules
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
                "metadata": metadata(
                    filter,
                    format!("portcullis-{}-{suffix}", filter.name_any()),
                    &snapshot.version,
                ),
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
