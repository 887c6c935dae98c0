//! Scale: 1,000 Gateways and 10,000 VirtualServices (generated), compiled for one gateway
//! workload, rendered, and pushed over ADS to a real Envoy until it acknowledges everything.
//! Reports compile time, the process's peak memory, the configuration's size, and the time
//! until Envoy serves. Run through `bench/xds-scale.sh`; results go to BENCHMARKS.md.
//!
//! `GATEWAYS` (default 1000) and `VIRTUAL_SERVICES` (default 10000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a broken setup should stop it"
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use portcullis::envoy::{EnvoyProcess, EnvoyProcessOptions, create_private_dir, write_private};
use portcullis_compile::compile::{CompileOptions, GatewayIdentity, compile};
use portcullis_compile::load::load_str;
use portcullis_envoy::{BootstrapOptions, ConfigDelivery, render_bootstrap};
use portcullis_xds::{Inputs, Module, ModuleSource, ProxyDefaults, XdsServer};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `gateways` Gateways on port 80 (`*.gN.example.com` each), `virtual_services`
/// VirtualServices spread over them, each with two routes to one of ten upstreams.
fn generate(gateways: usize, virtual_services: usize) -> String {
    let mut yaml = String::new();
    for g in 0..gateways {
        let _ = write!(
            yaml,
            "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: g{g}, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: ['*.g{g}.example.com']\n"
        );
    }
    for u in 0..10 {
        let _ = write!(
            yaml,
            "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: u{u}, namespace: istio-system}}\nspec:\n  hosts: [u{u}.demo.local]\n  location: MESH_INTERNAL\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  endpoints: [{{address: 127.0.0.1, ports: {{http: {}}}}}]\n",
            19000 + u
        );
    }
    for v in 0..virtual_services {
        let g = v % gateways.max(1);
        let u = v % 10;
        let _ = write!(
            yaml,
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v{v}, namespace: istio-system}}\nspec:\n  hosts: [s{v}.g{g}.example.com]\n  gateways: [g{g}]\n  http:\n  - match: [{{uri: {{prefix: /api}}}}]\n    route: [{{destination: {{host: u{u}.demo.local}}}}]\n  - route: [{{destination: {{host: u{}.demo.local}}}}]\n",
            (u + 1) % 10
        );
    }
    yaml
}

/// Peak resident memory of this process, from `/proc/self/status`.
fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Resident memory of this process now.
fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (gateways, virtual_services) = (env("GATEWAYS", 1000), env("VIRTUAL_SERVICES", 10_000));
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = generate(gateways, virtual_services);
    let started = Instant::now();
    let loaded = load_str(&yaml, Some("generated.yaml"));
    let load_took = started.elapsed();
    drop(yaml);
    let rss_after_load = peak_rss_mib();
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        &loaded.diagnostics[..3.min(loaded.diagnostics.len())]
    );
    let options = CompileOptions {
        port_offset: listen - 80,
        ..CompileOptions::default()
    };
    let identity = GatewayIdentity::default();
    // Compile alone, as the server does per workload.
    let started = Instant::now();
    let output = compile(&loaded.resources, &identity, &options);
    let compile_took = started.elapsed();
    let errors = output
        .diagnostics
        .iter()
        .filter(|d| d.severity == portcullis_compile::diagnostics::Severity::Error)
        .count();
    assert_eq!(
        errors,
        0,
        "{:?}",
        &output.diagnostics[..3.min(output.diagnostics.len())]
    );
    let vhosts: usize = output
        .wire
        .listeners
        .iter()
        .map(|l| l.virtual_hosts.len())
        .sum();
    let wire_bytes = output.wire.to_json().len();
    let version = output.wire.config_version.clone();
    drop(output);
    let rss_before_server = rss_mib();

    let wasm_dir = std::env::var("PORTCULLIS_WASM_DIR").expect("PORTCULLIS_WASM_DIR");
    let read = |name: &str| Module::new(name, std::fs::read(format!("{wasm_dir}/{name}")).unwrap());
    let server = XdsServer::new(ProxyDefaults {
        bind_address: "127.0.0.1".into(),
        access_log: None,
        modules: ModuleSource::served(read("portcullis_router.wasm"), None),
    });
    let started = Instant::now();
    server.publish(Inputs::Resources {
        resources: loaded.resources,
        options,
        workloads: vec![],
        read: loaded.diagnostics,
    });
    let served = server.compiled(&identity).await;
    let server_compile_took = started.elapsed();
    assert!(served.snapshot.is_some(), "{:?}", served.error);
    let rss_after_compile = peak_rss_mib();
    let server_rss = rss_mib() - rss_before_server;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let xds_port = listener.local_addr().unwrap().port();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });

    let dir = std::env::temp_dir().join(format!("portcullis-xds-scale-{}", std::process::id()));
    create_private_dir(&dir).unwrap();
    let bootstrap = render_bootstrap(&BootstrapOptions {
        node_id: "scale".into(),
        labels: identity.labels.clone(),
        namespace: Some(identity.namespace.clone()),
        admin_port: 0,
        delivery: ConfigDelivery::Ads(portcullis_envoy::XdsServer {
            address: "127.0.0.1".into(),
            port: xds_port,
        }),
    });
    write_private(
        &dir.join("bootstrap.json"),
        &portcullis_envoy::api::to_json_value(&bootstrap),
    )
    .unwrap();
    let envoy_bin = std::env::var("PORTCULLIS_ENVOY").expect("PORTCULLIS_ENVOY");
    let started = Instant::now();
    let envoy = EnvoyProcess::start(
        &EnvoyProcessOptions {
            binary: envoy_bin.into(),
            bootstrap: dir.join("bootstrap.json"),
            log_path: dir.join("envoy.log"),
            concurrency: 1,
            admin_port: 0,
        },
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    loop {
        if server.status().iter().any(|s| s.synced_to(&version)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{:?}\n{}",
            server.status(),
            envoy.log_tail(10)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_took = started.elapsed();
    envoy.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "xds scale: {gateways} Gateways, {virtual_services} VirtualServices ({vhosts} virtual hosts, wire config {:.1} MiB)",
        wire_bytes as f64 / 1048576.0
    );
    println!(
        "  load YAML        {:>8.1} ms",
        load_took.as_secs_f64() * 1e3
    );
    println!(
        "  compile          {:>8.1} ms",
        compile_took.as_secs_f64() * 1e3
    );
    println!(
        "  compile + render {:>8.1} ms (in the server)",
        server_compile_took.as_secs_f64() * 1e3
    );
    println!(
        "  memory           {:>8.1} MiB peak after loading the YAML; the server's compiled and \
         rendered configuration adds {server_rss:.1} MiB (peak of the process {rss_after_compile:.1} MiB)",
        rss_after_load
    );
    println!(
        "  Envoy start → every resource ACKed {:>8.1} ms",
        acked_took.as_secs_f64() * 1e3
    );
}
