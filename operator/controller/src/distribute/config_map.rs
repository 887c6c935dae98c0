//! `ConfigMap`: the workload's Envoy configuration as one ConfigMap of file-based xDS
//! documents (LDS, CDS, one ECDS document per filter), for Envoys that mount it and read
//! files (`portcullis bootstrap --config-dir`).
//!
//! The kubelet presents a ConfigMap volume as one file per key, all replaced at once: it
//! writes a new timestamped directory, then renames its `..data` link to it inside the mount.
//! Every document's config source watches the mount root for that move, so Envoy reloads
//! them together. Three rules follow:
//! - the documents name each other and the modules by absolute paths in the pod, so they are
//!   rendered for the GatewayFilter's `configMap.mountPath` and `configMap.moduleDir`;
//! - every filter configuration a later version may use has its key from the first version
//!   (empty while unused): the kubelet links a new key only after the rename Envoy reloads
//!   on, so a listener naming a document that just appeared would find nothing;
//! - no TLS material: a private key in a ConfigMap is readable by anyone who may read
//!   ConfigMaps in the namespace, so a configuration that needs secrets is refused (distribution
//!   `Xds` delivers them as SDS secrets);
//! - make before break inside one swap: Envoy reloads the documents in no set order, so a
//!   cluster the previous version routes to stays in the next one (listed in the
//!   `portcullis.dev/retained-clusters` annotation) until the set of clusters in use changes
//!   again; otherwise CDS could drop it while the old router still sends requests there (seen
//!   as 503s during the swap).
//!
//! The API server refuses a ConfigMap whose data exceeds 1 MiB; a larger configuration is
//! refused here with its size, before any write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kube::ResourceExt;
use portcullis_core::contract;
use portcullis_envoy::api::{DiscoveryResponse, to_json_value};
use portcullis_envoy::{
    ConfigDelivery, ConfigDir, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER, ROUTER_FILTER,
    RenderOptions, TlsDelivery, WasmModules, render,
};
use portcullis_xds::Compiled;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Distributor, Environment, ObjectName, Unbuildable, metadata};
use crate::crd::GatewayFilter;
use crate::inputs::settings;

/// The API server's limit on a ConfigMap's data, in bytes.
pub const LIMIT: usize = 1024 * 1024;

/// The clusters a ConfigMap keeps only because the version before it routed to them.
pub const RETAINED_ANNOTATION: &str = "portcullis.dev/retained-clusters";

/// One ConfigMap of Envoy's files per GatewayFilter.
#[derive(Debug)]
pub struct ConfigMapFiles;

impl Distributor for ConfigMapFiles {
    fn objects(
        &self,
        filter: &GatewayFilter,
        compiled: &Compiled,
        environment: &Environment,
        previous: Option<&Value>,
    ) -> Result<Vec<Value>, Unbuildable> {
        let mut data = documents(filter, compiled, environment)?;
        let retained = retain_clusters(&mut data, previous);
        let hash = compiled
            .snapshot
            .as_ref()
            .map(|s| s.version.clone())
            .unwrap_or_default();
        let mut metadata = metadata(filter, name(filter), &hash);
        if !retained.is_empty() {
            metadata["annotations"][RETAINED_ANNOTATION] = Value::String(retained.join(","));
        }
        let bytes: usize = data.values().map(String::len).sum();
        if bytes > LIMIT {
            return Err(Unbuildable::TooLarge {
                bytes,
                limit: LIMIT,
            });
        }
        Ok(vec![json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": data,
        })])
    }

    fn previous(&self, filter: &GatewayFilter) -> Option<ObjectName> {
        Some(("v1", "ConfigMap", name(filter)))
    }

    fn applied_note(&self) -> &'static str {
        "the kubelet updates mounted ConfigMaps within its sync period, and Envoys report nothing back in this mode"
    }
}

/// The ConfigMap's name: `portcullis-<GatewayFilter name>-config`.
pub fn name(filter: &GatewayFilter) -> String {
    format!("portcullis-{}-config", filter.name_any())
}

/// The ConfigMap's data: file name → JSON document (its size is checked once the retained
/// clusters are in, by [`ConfigMapFiles`]).
pub fn documents(
    filter: &GatewayFilter,
    compiled: &Compiled,
    environment: &Environment,
) -> Result<BTreeMap<String, String>, Unbuildable> {
    let (Some(wire), Some(plan), Some(snapshot)) =
        (&compiled.wire, &compiled.plan, &compiled.snapshot)
    else {
        return Err(Unbuildable::NotCompiled);
    };
    let paths = filter.spec.config_map.clone().unwrap_or_default();
    let dir = ConfigDir::mounted(&paths.mount_path);
    let module = |file: &str| Path::new(&paths.module_dir).join(file);
    let options = RenderOptions {
        delivery: ConfigDelivery::Files(dir.clone()),
        bind_address: environment.proxy.bind_address.clone(),
        wasm: WasmModules::local(
            module(contract::ROUTER_MODULE),
            Some(module(contract::EGRESS_AUDIT_MODULE)),
        ),
        tls: TlsDelivery::Sds,
        failure_policy: settings(filter).failure_policy,
        access_log: environment.proxy.access_log.clone(),
    };
    let rendered = render(plan, wire, &options).map_err(|e| Unbuildable::Render(e.to_string()))?;
    if !rendered.secrets.is_empty() {
        return Err(Unbuildable::TlsMaterial(
            rendered.secrets.iter().map(|s| s.name.clone()).collect(),
        ));
    }
    let mut data = BTreeMap::new();
    for (path, document) in rendered.files(&dir) {
        data.insert(key(&path), to_json_value(&document).to_string());
    }
    for filter_name in [ROUTER_FILTER, EGRESS_AUDIT_FILTER, EGRESS_AUDIT_TCP_FILTER] {
        let unused = DiscoveryResponse {
            version_info: snapshot.version.clone(),
            resources: Vec::new(),
        };
        data.entry(key(&dir.filter_config_file(filter_name)))
            .or_insert_with(|| to_json_value(&unused).to_string());
    }
    Ok(data)
}

/// The CDS document's key.
const CDS_KEY: &str = "cds.json";

/// A file's ConfigMap key: its name (every document of a mount is at its root).
fn key(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Adds to `data`'s CDS document the clusters `previous` used that `data` does not, and
/// returns their names. While the clusters in use stay the same, the retained ones stay too
/// (so an unchanged configuration gives an unchanged ConfigMap); when they change, the
/// previous version's clusters in use are what is retained.
pub fn retain_clusters(
    data: &mut BTreeMap<String, String>,
    previous: Option<&Value>,
) -> Vec<String> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let parse = |text: Option<&str>| -> Option<Value> { serde_json::from_str(text?).ok() };
    let (Some(mut cds), Some(old_cds)) = (
        parse(data.get(CDS_KEY).map(String::as_str)),
        parse(previous["data"][CDS_KEY].as_str()),
    ) else {
        return Vec::new();
    };
    let old_retained: BTreeSet<&str> = previous["metadata"]["annotations"][RETAINED_ANNOTATION]
        .as_str()
        .map(|names| names.split(',').filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    let names = |doc: &Value| -> Vec<(String, Value)> {
        doc["resources"]
            .as_array()
            .map(|resources| {
                resources
                    .iter()
                    .filter_map(|r| Some((r["name"].as_str()?.to_string(), r.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let new: BTreeSet<String> = names(&cds).into_iter().map(|(n, _)| n).collect();
    let old = names(&old_cds);
    let old_in_use: BTreeSet<String> = old
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !old_retained.contains(n.as_str()))
        .collect();
    let keep = |name: &String| {
        if old_in_use == new {
            old_retained.contains(name.as_str())
        } else {
            old_in_use.contains(name) && !new.contains(name)
        }
    };
    let retained: Vec<(String, Value)> = old.into_iter().filter(|(n, _)| keep(n)).collect();
    if retained.is_empty() {
        return Vec::new();
    }
    if let Some(resources) = cds["resources"].as_array_mut() {
        resources.extend(retained.iter().map(|(_, r)| r.clone()));
    }
    // The document's version names its content, retained clusters included.
    let digest = Sha256::digest(cds["resources"].to_string().as_bytes());
    cds["version_info"] = Value::String(hex::encode(&digest[..6]));
    data.insert(CDS_KEY.to_string(), cds.to_string());
    retained.into_iter().map(|(n, _)| n).collect()
}
