//! Shared e2e harness: a real Envoy with the built filters on free 127.0.0.1 ports, demo echo
//! upstreams, and a tiny HTTP client. Each test starts its own gateway (own ports, own state
//! dir, `--disable-hot-restart`), so tests run in parallel.

pub mod http;
pub mod kubelet;
pub mod load;
pub mod pki;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use portcullis::local::{Compiled, GatewayOptions, LocalGateway, ModuleDelivery};
use portcullis::locate::{EnvoyBinary, locate_envoy, locate_modules};
use portcullis_compile::compile::{CompileOptions, GatewayIdentity, compile};
use portcullis_compile::diagnostics::has_errors;
use portcullis_compile::load::load_str;
use portcullis_compile::plan::{
    ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind, ListenerPlan,
};
use portcullis_core::wire::WireConfig;
use portcullis_envoy::WasmModules;
use serde_json::Value;

struct Tools {
    envoy: EnvoyBinary,
    wasm: WasmModules,
}

/// Envoy and the filter modules, located once per test binary from `PORTCULLIS_ENVOY` and
/// `PORTCULLIS_WASM_DIR`, which `cargo xtask test` sets after building and installing them.
fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let hint = "run the suite with `cargo xtask test`, which builds the filters, installs \
                    Envoy and sets PORTCULLIS_ENVOY and PORTCULLIS_WASM_DIR";
        let envoy =
            locate_envoy(None).unwrap_or_else(|e| panic!("e2e tests need Envoy: {e}; {hint}"));
        let wasm = locate_modules(None)
            .unwrap_or_else(|e| panic!("e2e tests need the filter modules: {e}; {hint}"));
        Tools { envoy, wasm }
    })
}

/// Envoy and the filter modules, as located for this test binary.
pub fn envoy_and_modules() -> (EnvoyBinary, WasmModules) {
    let t = tools();
    (t.envoy.clone(), t.wasm.clone())
}

/// A 127.0.0.1 port for a test to hand to Envoy, free when it was checked.
///
/// A port taken with `bind(0)` and released is in the kernel's ephemeral range, so the
/// kernel may hand it out again at once, to another test's outbound connection or
/// listener, before Envoy binds it. Ports here come from below that range instead, where
/// the kernel assigns nothing on its own, and a counter shared by the whole test binary
/// gives each port out once; a start offset from the process id keeps two test binaries
/// running side by side apart.
pub fn free_port() -> u16 {
    let (low, span) = assignable_ports();
    for _ in 0..span {
        let port = next_candidate(low, span);
        if take(&[port]) {
            return port;
        }
    }
    panic!("no free 127.0.0.1 port below the ephemeral range");
}

/// An offset `n` such that every `ports[i] + n` is a free 127.0.0.1 port, given out like
/// [`free_port`]'s (once per test binary, below the ephemeral range), for a gateway whose
/// Gateway ports `portcullis up --port-offset n` moves onto free ports together.
pub fn free_port_offset(ports: &[u16]) -> u16 {
    let (low, span) = assignable_ports();
    let (Some(&lo), Some(&hi)) = (ports.iter().min(), ports.iter().max()) else {
        return 0;
    };
    for _ in 0..span {
        let base = u32::from(next_candidate(low, span));
        let (lo, hi) = (u32::from(lo), u32::from(hi));
        if base < lo || hi + (base - lo) >= low + span {
            continue;
        }
        let offset = base - lo;
        let moved: Vec<u16> = ports
            .iter()
            .map(|p| u16::try_from(u32::from(*p) + offset).expect("below the window's end"))
            .collect();
        if take(&moved) {
            return u16::try_from(offset).expect("below 65536");
        }
    }
    panic!("no port offset moves {ports:?} onto free 127.0.0.1 ports");
}

/// The next port of the window to try: a counter shared by the whole test binary walks the
/// window from a start offset taken from the process id.
fn next_candidate(low: u32, span: u32) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7919) % span;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    u16::try_from(low + (offset + n) % span).expect("the port window is below 65536")
}

/// Gives out `ports` when none was given out before and each can be bound now.
fn take(ports: &[u16]) -> bool {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let free = ports
        .iter()
        .all(|p| !given.contains(p) && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
    if free {
        given.extend(ports.iter().copied());
    }
    free
}

/// The window `free_port` draws from: `[low, low + span)`, which ends where the kernel's
/// ephemeral range (`net.ipv4.ip_local_port_range`) begins.
fn assignable_ports() -> (u32, u32) {
    const LOW: u32 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_start > LOW + 1_000 {
        (LOW, ephemeral_start - LOW)
    } else {
        // A machine whose ephemeral range starts very low: use the ports above 10,000
        // and rely on the bind check alone.
        (LOW, 65_536 - LOW)
    }
}

/// A fresh state directory for one gateway.
pub fn state_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("portcullis-e2e-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Parses a wire config written as JSON in a test.
pub fn wire(json: Value) -> WireConfig {
    WireConfig::from_json(json.to_string().as_bytes()).unwrap()
}

/// A plain-HTTP listener plan.
pub fn http_listener(port: u16, bind: u16, kind: ListenerKind) -> ListenerPlan {
    ListenerPlan {
        name: format!("http.{port}"),
        gateway_port: port,
        bind_port: bind,
        bind_address: None,
        kind,
        tls_chains: vec![],
        passthrough: vec![],
        tcp: None,
    }
}

/// A STATIC cluster on 127.0.0.1:`port` (served by a demo upstream).
pub fn local_cluster(name: &str, port: u16) -> ClusterPlan {
    ClusterPlan {
        name: name.into(),
        discovery: Discovery::Static(vec![Endpoint {
            address: "127.0.0.1".into(),
            port,
        }]),
        http2: false,
        tls: None,
    }
}

/// Starts a gateway with demo upstreams.
pub async fn start(wire: WireConfig, plan: EnvoyPlan) -> LocalGateway {
    start_with(wire, plan, true).await
}

/// Starts a gateway, with or without demo upstreams (a test that serves its own upstreams
/// on the plan's ports says no).
pub async fn start_with(wire: WireConfig, plan: EnvoyPlan, demo_upstreams: bool) -> LocalGateway {
    let t = tools();
    let opts = GatewayOptions {
        envoy: t.envoy.clone(),
        wasm: t.wasm.clone(),
        module_delivery: ModuleDelivery::Served,
        identity: Default::default(),
        xds_port: 0,
        admin_port: 0,
        state_dir: state_dir(),
        concurrency: 1,
        demo_upstreams,
        access_log: true,
    };
    match LocalGateway::start(Compiled { wire, plan }, opts).await {
        Ok(g) => g,
        Err(e) => panic!("gateway did not start: {e}"),
    }
}

/// Audit records (JSON objects) the egress filter wrote to Envoy's log so far.
pub fn audit_records(gw: &LocalGateway) -> Vec<Value> {
    let log = std::fs::read_to_string(gw.envoy_log()).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("[wasm]"))
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|j| serde_json::from_str::<Value>(j).ok())
        .filter(|v| v.get("decision").is_some())
        .collect()
}

/// Waits up to five seconds for an audit record satisfying `pred`.
pub async fn wait_audit(gw: &LocalGateway, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        if let Some(r) = audit_records(gw).into_iter().find(|r| pred(r)) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no matching audit record; records: {:#?}\nlog:\n{}",
        audit_records(gw),
        gw.envoy_log_tail(30)
    );
}

/// Stops a `portcullis up` child the way a user does (SIGTERM) and waits for it: `up` then stops
/// its Envoy. A SIGKILL would leave that Envoy running, orphaned, with its ports bound, for the
/// rest of the suite.
pub async fn stop_up(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        // It did not stop in time: the test fails elsewhere; do not leave it running.
        let _ = child.kill().await;
    }
}

/// Stops the gateway and removes its state directory (a failed test keeps it for debugging).
pub async fn finish(gw: LocalGateway) {
    let dir = gw.state_dir().to_path_buf();
    gw.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// An Envoy bootstrapped to the xDS server at 127.0.0.1:`xds_port` as node `node_id` of the
/// gateway workload `labels` in `namespace`, with its state (bootstrap, log) in `dir`.
pub async fn envoy_for_xds(
    node_id: &str,
    labels: &[(&str, &str)],
    namespace: &str,
    xds_port: u16,
    dir: &std::path::Path,
) -> portcullis::envoy::EnvoyProcess {
    use portcullis_envoy::{BootstrapOptions, ConfigDelivery, render_bootstrap};
    let (binary, _) = envoy_and_modules();
    portcullis::envoy::create_private_dir(dir).unwrap();
    let bootstrap = render_bootstrap(&BootstrapOptions {
        node_id: node_id.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        namespace: Some(namespace.into()),
        admin_port: 0,
        delivery: ConfigDelivery::Ads(portcullis_envoy::XdsServer {
            address: "127.0.0.1".into(),
            port: xds_port,
        }),
    });
    let file = dir.join("bootstrap.json");
    portcullis::envoy::write_private(&file, &portcullis_envoy::api::to_json_value(&bootstrap))
        .unwrap();
    let opts = portcullis::envoy::EnvoyProcessOptions {
        binary: binary.path,
        bootstrap: file,
        log_path: dir.join("envoy.log"),
        concurrency: 1,
        admin_port: 0,
    };
    portcullis::envoy::EnvoyProcess::start(&opts, std::time::Duration::from_secs(30))
        .await
        .unwrap()
}

/// Istio YAML compiled for the gateway workload `identity`, as `render` would: the test fails
/// on any error, reading or compiling.
pub fn compile_istio(yaml: &str, identity: &GatewayIdentity) -> (WireConfig, EnvoyPlan) {
    let loaded = load_str(yaml, None);
    assert!(
        !has_errors(&loaded.diagnostics),
        "{:#?}",
        loaded.diagnostics
    );
    let out = compile(&loaded.resources, identity, &CompileOptions::default());
    assert!(!has_errors(&out.diagnostics), "{:#?}", out.diagnostics);
    (out.wire, out.envoy)
}

/// A ServiceEntry for `<name>.demo.local`, port `number` (named after its protocol, lowercase),
/// served by one STATIC endpoint on 127.0.0.1:`port`: a test's own upstream, or a demo echo
/// upstream that `start` brings up there.
pub fn local_service_entry(name: &str, number: u16, protocol: &str, port: u16) -> String {
    let port_name = protocol.to_ascii_lowercase();
    format!(
        "
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: [{name}.demo.local]
  location: MESH_INTERNAL
  ports: [{{number: {number}, name: {port_name}, protocol: {protocol}}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{{port_name}: {port}}}}}]
"
    )
}
