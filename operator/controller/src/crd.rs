//! `GatewayFilter` (`portcullis.dev/v1alpha1`): which gateway workload Portcullis programs, with
//! which settings, and what came of it.
//!
//! The spec is what a platform team sets per gateway; the status is what the controller found:
//! Gateway API's condition conventions (`Accepted`, `Programmed`, `Degraded`, each with a reason
//! and the generation it was computed for), the compiled configuration's hash, what it serves,
//! how many of the workload's proxies run it, and every Istio resource left out and why.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What Portcullis does for one gateway workload.
// Every printer column repeats `type_ = ...`, which the lint takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "portcullis.dev",
    version = "v1alpha1",
    kind = "GatewayFilter",
    namespaced,
    status = "GatewayFilterStatus",
    shortname = "gwf",
    category = "portcullis",
    doc = "Which gateway workload Portcullis programs with the Istio Gateways and VirtualServices that select it, with which settings, and the outcome.",
    printcolumn(name = "Workload", type_ = "string", json_path = ".status.workload"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Programmed",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Programmed\")].status"
    ),
    printcolumn(name = "Proxies", type_ = "string", json_path = ".status.proxies"),
    printcolumn(name = "Hosts", type_ = "integer", json_path = ".status.hosts"),
    printcolumn(name = "Routes", type_ = "integer", json_path = ".status.routes"),
    printcolumn(
        name = "Hash",
        type_ = "string",
        json_path = ".status.compiledHash",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GatewayFilterSpec {
    /// The gateway workload: pods in this resource's namespace carrying all these labels (as
    /// a Gateway's `selector`).
    pub selector: WorkloadSelector,
    /// What Envoy does with requests after a filter's VM fails at run time.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Egress audit settings; they take precedence over the Gateway's `portcullis.dev/audit-*`
    /// annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSettings>,
    /// How an egress gateway answers a request it denies; takes precedence over the Gateway's
    /// `portcullis.dev/egress-deny-answer` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_deny_answer: Option<EgressDenyAnswer>,
    /// How the compiled configuration reaches the workload's Envoys.
    #[serde(default)]
    pub distribution: Distribution,
    /// Where the workload's pods find what the `ConfigMap` distribution gives them (defaults
    /// apply when absent; ignored by the other distributions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapSettings>,
}

/// The `ConfigMap` distribution's paths inside a gateway pod: Envoy's files name each other
/// and the filter modules by absolute path, so they are written for one mount layout.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapSettings {
    /// Where the pods mount the ConfigMap `portcullis-<GatewayFilter name>-config` (the
    /// directory `portcullis bootstrap --config-dir` names).
    #[serde(default = "default_mount_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("mountPath must be an absolute path"))]
    pub mount_path: String,
    /// The directory holding `portcullis_router.wasm` and `portcullis_egress_audit.wasm` in
    /// the pods (`portcullis modules --copy-to DIR` puts them there from the controller image).
    #[serde(default = "default_module_dir")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("moduleDir must be an absolute path"))]
    pub module_dir: String,
}

impl Default for ConfigMapSettings {
    fn default() -> Self {
        ConfigMapSettings {
            mount_path: default_mount_path(),
            module_dir: default_module_dir(),
        }
    }
}

fn default_mount_path() -> String {
    "/etc/portcullis/config".to_string()
}

fn default_module_dir() -> String {
    "/etc/portcullis/modules".to_string()
}

/// Pods by label.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.matchLabels) > 0").message("matchLabels must name at least one label: an empty selector would select every gateway in the namespace"))]
pub struct WorkloadSelector {
    /// Labels a pod must carry, all of them.
    pub match_labels: BTreeMap<String, String>,
}

/// `envoy.extensions.wasm.v3.FailurePolicy`, as Istio's `WasmPlugin.failStrategy` names it.
#[derive(JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// Requests fail while the VM is reloaded, with backoff (Envoy's default).
    #[default]
    FailReload,
    /// Every request fails from then on, until the configuration changes.
    FailClose,
    /// Requests pass without the filter: no host filtering, no routing decision, no audit.
    FailOpen,
}

/// Egress audit settings (egress gateways only).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditSettings {
    /// `log` (Envoy's log) or an `http://host[:port][/path]` collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == 'log' || self.startsWith('http://')").message("sink must be 'log' or an http:// URL"))]
    pub sink: Option<String>,
    /// What happens to requests while the collector cannot take records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<AuditFailureMode>,
    /// Keep query strings in records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_query: Option<bool>,
    /// Request headers copied into records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_headers: Vec<String>,
    /// Headers whose values are replaced by a digest in records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact_headers: Vec<String>,
}

/// How an egress gateway answers a denied HTTP request (the audit record names the reason
/// either way).
#[derive(JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EgressDenyAnswer {
    /// A bare 404, as Istio's egress gateway answers a host it has no route for (the default).
    NotFound,
    /// Istio's REGISTRY_ONLY answer, 502, with a body and a header that say why.
    RegistryOnly,
}

/// What happens to requests while audit records cannot be delivered.
#[derive(JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditFailureMode {
    /// Requests pass; lost records are counted.
    Open,
    /// Requests are refused.
    Closed,
}

/// How configuration reaches the Envoys.
#[derive(JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distribution {
    /// Over xDS from the controller, each proxy confirming what it runs.
    #[default]
    Xds,
    /// As an Istio `WasmPlugin` per workload, for istiod-managed gateways.
    IstioWasmPlugin,
    /// As a ConfigMap of Envoy configuration files (file-based xDS), for Envoys that mount
    /// it; no per-proxy result, and the kubelet's sync period (about a minute) before pods
    /// see a change.
    ConfigMap,
}

/// What the controller found.
#[derive(JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayFilterStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`, `Programmed`, `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The workload, as `namespace/k=v,...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The compiled configuration's content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_hash: Option<String>,
    /// Host names served.
    #[serde(default)]
    pub hosts: u32,
    /// Routes served.
    #[serde(default)]
    pub routes: u32,
    /// "N/M": proxies of the workload running the compiled configuration, of those connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<String>,
    /// Proxies running the compiled configuration.
    #[serde(default)]
    pub programmed_proxies: u32,
    /// Proxies of the workload connected to the controller.
    #[serde(default)]
    pub connected_proxies: u32,
    /// Istio resources (or parts of them) left out, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredResource>,
}

/// A resource, or part of one, that does not serve.
#[derive(JsonSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredResource {
    /// `Kind namespace/name`.
    pub resource: String,
    /// The field, when the finding is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `Error` (dropped) or `Warning`.
    pub severity: String,
    /// Why.
    pub message: String,
}
