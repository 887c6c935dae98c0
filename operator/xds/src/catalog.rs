//! What each gateway workload should run: the published inputs compiled and rendered once per
//! workload identity and publication, shared by every proxy of that workload.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use portcullis_compile::admission::Admission;
use portcullis_compile::compile::{CompileOptions, GatewayIdentity};
use portcullis_compile::diagnostics::{Diagnostic, Effect, keeps_last_good};
use portcullis_compile::istio::Resources;
use portcullis_compile::plan::EnvoyPlan;
use portcullis_core::wire::WireConfig;
use portcullis_envoy::api::FailurePolicy;
use portcullis_envoy::{
    ConfigDelivery, RenderOptions, Snapshot, TlsDelivery, WasmCode, WasmModules, XdsServer, render,
};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// What the owner of the server publishes.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Every Istio resource (all namespaces), compiled per gateway workload: what the
    /// in-cluster controller publishes.
    Resources {
        /// The resources.
        resources: Resources,
        /// Compile options.
        options: CompileOptions,
        /// Settings of particular workloads (from their GatewayFilters); the first whose
        /// selector matches a workload applies to it.
        workloads: Vec<WorkloadSettings>,
        /// What reading the resources found (the owner reports it): a resource it refuses
        /// keeps its accepted version serving (A-1).
        read: Vec<Diagnostic>,
    },
    /// One compiled configuration for every proxy, from an owner that compiled it itself for
    /// its one gateway (`portcullis up`, tests).
    Compiled {
        /// What the filters read.
        wire: WireConfig,
        /// What Envoy runs.
        plan: EnvoyPlan,
    },
}

impl Default for Inputs {
    fn default() -> Self {
        Inputs::Resources {
            resources: Resources::default(),
            options: CompileOptions::default(),
            workloads: Vec::new(),
            read: Vec::new(),
        }
    }
}

/// What a GatewayFilter sets for the workload it selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadSettings {
    /// Pod labels the workload must carry (all of them).
    pub selector: BTreeMap<String, String>,
    /// The workload's namespace.
    pub namespace: String,
    /// Egress audit settings, by annotation name (see `CompileOptions::audit`).
    pub audit: BTreeMap<String, String>,
    /// What Envoy does after a filter's VM traps.
    pub failure_policy: FailurePolicy,
}

impl WorkloadSettings {
    /// The settings apply to `gateway`.
    pub fn selects(&self, gateway: &GatewayIdentity) -> bool {
        self.namespace == gateway.namespace
            && self
                .selector
                .iter()
                .all(|(k, v)| gateway.labels.get(k) == Some(v))
    }
}

/// A filter module the server hands to Envoy.
#[derive(Clone, Debug)]
pub struct Module {
    /// Its file name, e.g. `portcullis_router.wasm`.
    pub file_name: String,
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// Hex SHA-256 of the bytes: the URL path it is served at, and what Envoy checks.
    pub sha256: String,
}

impl Module {
    /// A module from its bytes.
    pub fn new(file_name: impl Into<String>, bytes: Vec<u8>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Module {
            file_name: file_name.into(),
            bytes: bytes.into(),
            sha256,
        }
    }

    /// The module inside its filter configuration, delivered over the ADS stream.
    pub fn inline_code(&self) -> WasmCode {
        WasmCode::Inline(Arc::clone(&self.bytes))
    }
}

/// Where the proxies' filter modules come from.
#[derive(Clone, Debug)]
pub enum ModuleSource {
    /// Delivered by this server, inside the filter configurations (and downloadable at
    /// `/modules/<sha256>`): a gateway needs nothing but a bootstrap.
    Served {
        /// The router.
        router: Module,
        /// The egress-audit filter, for egress gateways.
        egress_audit: Option<Module>,
    },
    /// Files on the gateway's own disk (a local gateway).
    Local(WasmModules),
}

impl ModuleSource {
    /// Modules delivered by the server, from their bytes.
    pub fn served(router: Module, egress_audit: Option<Module>) -> Self {
        ModuleSource::Served {
            router,
            egress_audit,
        }
    }

    /// The module served at `sha256`, if any.
    pub fn module(&self, sha256: &str) -> Option<&Module> {
        match self {
            ModuleSource::Served {
                router,
                egress_audit,
            } => std::iter::once(router)
                .chain(egress_audit)
                .find(|m| m.sha256 == sha256),
            ModuleSource::Local(_) => None,
        }
    }

    fn wasm(&self) -> WasmModules {
        match self {
            ModuleSource::Served {
                router,
                egress_audit,
            } => WasmModules {
                router: router.inline_code(),
                egress_audit: egress_audit.as_ref().map(Module::inline_code),
            },
            ModuleSource::Local(modules) => modules.clone(),
        }
    }
}

/// How the proxies' configuration is rendered, besides what the resources say.
#[derive(Clone, Debug)]
pub struct ProxyDefaults {
    /// Address the gateway listeners bind (`0.0.0.0` in a pod, `127.0.0.1` locally).
    pub bind_address: String,
    /// Access log file (`/dev/stdout` in a pod); none disables it.
    pub access_log: Option<PathBuf>,
    /// The filter modules.
    pub modules: ModuleSource,
}

/// The outcome of compiling for one workload.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// What its proxies should run; `None` when the resources do not compile for it (its
    /// proxies keep what they have).
    pub snapshot: Option<Arc<Snapshot>>,
    /// Every finding of the compile step.
    pub diagnostics: Vec<Diagnostic>,
    /// Why there is no snapshot.
    pub error: Option<String>,
    /// How long compiling and rendering took.
    pub took: Duration,
    /// What the configuration serves.
    pub counts: Counts,
    /// The filters' configuration, when the resources compiled (what distributions other than
    /// xDS hand to the filters).
    pub wire: Option<Arc<WireConfig>>,
    /// What Envoy runs, when the resources compiled (distributions other than xDS render it
    /// their own way).
    pub plan: Option<Arc<EnvoyPlan>>,
}

/// The size of a compiled configuration, as the controller reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Host names the virtual hosts answer for (`domains`), over every listener.
    pub hosts: usize,
    /// Routes, over every virtual host.
    pub routes: usize,
    /// Size of the filters' configuration (the wire JSON), in bytes.
    pub config_bytes: usize,
}

impl Counts {
    /// Counts what `wire` serves.
    pub fn of(wire: &WireConfig) -> Self {
        let virtual_hosts = wire.listeners.iter().flat_map(|l| {
            l.virtual_hosts
                .iter()
                .chain(l.servers.iter().flat_map(|s| s.virtual_hosts.iter()))
        });
        let mut counts = Counts {
            config_bytes: wire.to_json().len(),
            ..Counts::default()
        };
        for vh in virtual_hosts {
            counts.hosts += vh.domains.len();
            counts.routes += vh.routes.len();
        }
        counts
    }
}

impl Compiled {
    /// No Gateway selects the workload: its proxies get an empty configuration.
    pub fn selects_nothing(&self) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| s.listeners.is_empty())
    }
}

/// A gateway workload, as a map key: its labels and namespace.
pub(crate) type WorkloadKey = (BTreeMap<String, String>, String);

/// Each workload's [`Admission`] (the last accepted version of every resource) and the
/// generation that last updated it, shared by the catalogs of one server. Each workload has a
/// lock of its own, so compiling for one workload never waits for another.
#[derive(Debug, Default)]
pub struct Admissions(Mutex<BTreeMap<WorkloadKey, Arc<WorkloadAdmission>>>);

/// One workload's admission and the generation that last updated it.
type WorkloadAdmission = Mutex<(u64, Admission)>;

impl Admissions {
    /// Compiles generation `generation` of `inputs` for `gateway` through the workload's
    /// admission. A generation older than the one that last updated it (a slow compile that a
    /// newer publication overtook) compiles against a copy, so it cannot roll the accepted
    /// versions back.
    fn compile(
        &self,
        generation: u64,
        inputs: &Inputs,
        defaults: &ProxyDefaults,
        gateway: &GatewayIdentity,
    ) -> Compiled {
        let key = (gateway.labels.clone(), gateway.namespace.clone());
        let workload = Arc::clone(
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default(),
        );
        let mut workload = workload.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, admission) = &mut *workload;
        if generation < *seen {
            return compile_admitted(inputs, defaults, gateway, &mut admission.clone());
        }
        *seen = generation;
        compile_admitted(inputs, defaults, gateway, admission)
    }
}

/// One publication of inputs, compiled lazily per workload.
#[derive(Debug)]
pub struct Catalog {
    /// Counts publications; each proxy follows the newest.
    pub generation: u64,
    inputs: Arc<Inputs>,
    defaults: Arc<ProxyDefaults>,
    admissions: Arc<Admissions>,
    compiled: Mutex<BTreeMap<WorkloadKey, Arc<OnceCell<Compiled>>>>,
}

impl Catalog {
    /// Generation `generation` of `inputs`, admitted through `admissions`.
    pub fn new(
        generation: u64,
        inputs: Arc<Inputs>,
        defaults: Arc<ProxyDefaults>,
        admissions: Arc<Admissions>,
    ) -> Self {
        Catalog {
            generation,
            inputs,
            defaults,
            admissions,
            compiled: Mutex::new(BTreeMap::new()),
        }
    }

    /// The configuration of workload `gateway`, compiled on first use (off the async workers)
    /// and shared by every proxy of that workload.
    pub async fn for_workload(&self, gateway: &GatewayIdentity) -> Compiled {
        let key = (gateway.labels.clone(), gateway.namespace.clone());
        let cell = {
            let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(compiled.entry(key).or_default())
        };
        cell.get_or_init(|| {
            let inputs = Arc::clone(&self.inputs);
            let defaults = Arc::clone(&self.defaults);
            let admissions = Arc::clone(&self.admissions);
            let generation = self.generation;
            let gateway = gateway.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    admissions.compile(generation, &inputs, &defaults, &gateway)
                })
                .await
                .unwrap_or_else(|e| Compiled {
                    snapshot: None,
                    diagnostics: vec![],
                    error: Some(format!("compile task failed: {e}")),
                    took: Duration::ZERO,
                    counts: Counts::default(),
                    wire: None,
                    plan: None,
                })
            }
        })
        .await
        .clone()
    }
}

/// Compiles and renders the inputs for one workload, as a first publication would: every
/// resource Istio would refuse is left out (A-1).
pub fn compile_for(
    inputs: &Inputs,
    defaults: &ProxyDefaults,
    gateway: &GatewayIdentity,
) -> Compiled {
    compile_admitted(inputs, defaults, gateway, &mut Admission::default())
}

/// Compiles and renders the inputs for one workload through its `admission`: a resource Istio
/// would refuse keeps its accepted version, a piece that cannot be served is dropped, and only
/// input that cannot be read leaves the workload's proxies with what they have.
pub fn compile_admitted(
    inputs: &Inputs,
    defaults: &ProxyDefaults,
    gateway: &GatewayIdentity,
    admission: &mut Admission,
) -> Compiled {
    let started = Instant::now();
    let (resources, compile_options, settings, read) = match inputs {
        Inputs::Resources {
            resources,
            options,
            workloads,
            read,
        } => (
            resources,
            options,
            workloads.iter().find(|w| w.selects(gateway)),
            read,
        ),
        Inputs::Compiled { wire, plan } => {
            return rendered(
                wire,
                plan,
                defaults,
                FailurePolicy::default(),
                Vec::new(),
                started,
            );
        }
    };
    let mut compile_options = compile_options.clone();
    if let Some(settings) = settings {
        compile_options.audit.extend(settings.audit.clone());
    }
    let failure_policy = settings.map(|s| s.failure_policy).unwrap_or_default();
    let output = admission.compile(resources, read, gateway, &compile_options);
    if keeps_last_good(read) || keeps_last_good(&output.diagnostics) {
        let errors = output
            .diagnostics
            .iter()
            .chain(read)
            .filter(|d| d.effect == Some(Effect::KeepsLastGood))
            .count();
        return Compiled {
            snapshot: None,
            error: Some(format!(
                "{errors} error(s) that keep the last good configuration for this gateway"
            )),
            diagnostics: output.diagnostics,
            took: started.elapsed(),
            counts: Counts::of(&output.wire),
            wire: None,
            plan: None,
        };
    }
    rendered(
        &output.wire,
        &output.envoy,
        defaults,
        failure_policy,
        output.diagnostics,
        started,
    )
}

fn rendered(
    wire: &WireConfig,
    plan: &EnvoyPlan,
    defaults: &ProxyDefaults,
    failure_policy: FailurePolicy,
    diagnostics: Vec<Diagnostic>,
    started: Instant,
) -> Compiled {
    let options = RenderOptions {
        // The server's address is the bootstrap's business: resources only say "ADS".
        delivery: ConfigDelivery::Ads(XdsServer {
            address: String::new(),
            port: 0,
        }),
        bind_address: defaults.bind_address.clone(),
        wasm: defaults.modules.wasm(),
        tls: TlsDelivery::Sds,
        failure_policy,
        access_log: defaults.access_log.clone(),
    };
    let counts = Counts::of(wire);
    match render(plan, wire, &options) {
        Ok(snapshot) => Compiled {
            snapshot: Some(Arc::new(snapshot)),
            diagnostics,
            error: None,
            took: started.elapsed(),
            counts,
            wire: Some(Arc::new(wire.clone())),
            plan: Some(Arc::new(plan.clone())),
        },
        Err(e) => Compiled {
            snapshot: None,
            diagnostics,
            error: Some(e.to_string()),
            took: started.elapsed(),
            counts,
            wire: None,
            plan: None,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use portcullis_compile::plan::{
        ClientCertificate, ClusterPlan, Discovery, Endpoint, ListenerKind, ListenerPlan, PemSource,
        ServerVerification, TlsChainPlan, UpstreamTlsPlan,
    };

    use super::*;

    /// What the server sends carries private keys only in SDS secrets: never inside a
    /// listener (a terminated chain's key) or a cluster (an upstream client key).
    #[test]
    fn private_keys_travel_only_as_sds_secrets() {
        let wire = WireConfig::from_json(
            br#"{"version":1,"configVersion":"keys","listeners":[{"port":443,"bindPort":443,
                "servers":[{"name":"default/gw/https","hosts":["*"],"tls":true,"virtualHosts":[]}]}]}"#,
        )
        .unwrap();
        let plan = EnvoyPlan {
            listeners: vec![ListenerPlan {
                name: "https.443".into(),
                gateway_port: 443,
                bind_port: 443,
                bind_address: None,
                kind: ListenerKind::Ingress,
                tls_chains: vec![TlsChainPlan {
                    name: String::new(),
                    server_names: vec![],
                    certificate_chain: PemSource::Inline("SERVER-CERT".into()),
                    private_key: PemSource::Inline("SERVER-PRIVATE-KEY".into()),
                    client_ca: None,
                    require_client_certificate: false,
                    settings: Default::default(),
                    tcp: None,
                }],
                passthrough: vec![],
                tcp: None,
            }],
            clusters: vec![ClusterPlan {
                name: "outbound|443||api.example.org".into(),
                discovery: Discovery::Dns(vec![Endpoint {
                    address: "api.example.org".into(),
                    port: 443,
                }]),
                http2: false,
                tls: Some(UpstreamTlsPlan {
                    sni: "api.example.org".into(),
                    verify: Some(ServerVerification {
                        trusted_ca: PemSource::SystemBundle,
                        subject_alt_names: vec!["api.example.org".into()],
                        crl: None,
                    }),
                    client_certificate: Some(ClientCertificate {
                        certificate_chain: PemSource::Inline("CLIENT-CERT".into()),
                        private_key: PemSource::Inline("CLIENT-PRIVATE-KEY".into()),
                    }),
                }),
            }],
        };
        let defaults = ProxyDefaults {
            bind_address: "127.0.0.1".into(),
            access_log: None,
            modules: ModuleSource::served(Module::new("portcullis_router.wasm", vec![0]), None),
        };
        let compiled = compile_for(
            &Inputs::Compiled { wire, plan },
            &defaults,
            &GatewayIdentity::default(),
        );
        let snapshot = compiled.snapshot.expect("rendered");
        let listeners = json(&snapshot.listeners_response());
        let clusters = json(&snapshot.clusters_response());
        let secrets = json(&snapshot.secrets);
        for key in ["SERVER-PRIVATE-KEY", "CLIENT-PRIVATE-KEY"] {
            assert!(!listeners.contains(key), "{key} inside a listener");
            assert!(!clusters.contains(key), "{key} inside a cluster");
            assert!(secrets.contains(key), "{key} not in the SDS secrets");
        }
    }

    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn resources(yaml: &str) -> Inputs {
        let loaded = portcullis_compile::load::load_str(yaml, None);
        Inputs::Resources {
            resources: loaded.resources,
            options: CompileOptions::default(),
            workloads: vec![],
            read: loaded.diagnostics,
        }
    }

    fn shop(destination: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ['*']
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ['*']
    tls: {{mode: ISTIO_MUTUAL}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop}}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route: [{{destination: {{host: {destination}}}}}]
"
        )
    }

    /// A-1 across publications: a piece that cannot be served leaves the rest serving, and an
    /// invalid edit keeps the version the workload accepted before, until it is mended.
    #[test]
    fn publications_are_admitted_per_workload() {
        let defaults = ProxyDefaults {
            bind_address: "127.0.0.1".into(),
            access_log: None,
            modules: ModuleSource::served(Module::new("portcullis_router.wasm", vec![0]), None),
        };
        let gateway = GatewayIdentity::default();
        let admissions = Admissions::default();
        let serves = |compiled: &Compiled, host: &str| {
            json(compiled.wire.as_deref().expect("served"))
                .contains(&format!("outbound|80||{host}.default.svc.cluster.local"))
        };

        let first = admissions.compile(1, &resources(&shop("v1")), &defaults, &gateway);
        assert!(first.snapshot.is_some(), "{:?}", first.error);
        assert!(serves(&first, "v1"));
        assert!(
            first
                .diagnostics
                .iter()
                .any(|d| d.message.contains("ISTIO_MUTUAL"))
        );

        let invalid = shop("v2").replace("- route:", "- match: [{uri: {regex: '(('}}]\n    route:");
        let second = admissions.compile(2, &resources(&invalid), &defaults, &gateway);
        assert!(second.snapshot.is_some(), "{:?}", second.error);
        assert!(serves(&second, "v1") && !serves(&second, "v2"));

        // A slow compile of an older generation does not roll the accepted versions back.
        let stale = admissions.compile(1, &resources(&shop("v0")), &defaults, &gateway);
        assert!(serves(&stale, "v0"));
        let third = admissions.compile(3, &resources(&invalid), &defaults, &gateway);
        assert!(serves(&third, "v1"));

        let mended = admissions.compile(4, &resources(&shop("v3")), &defaults, &gateway);
        assert!(serves(&mended, "v3"));
        // A workload compiled for the first time has nothing to fall back on.
        assert!(!serves(
            &compile_for(&resources(&invalid), &defaults, &gateway),
            "v1"
        ));
    }
}
