//! Golden tests of every `examples/<scenario>/`: the compiled output (`expected/compiled.json`:
//! wire config, Envoy plan, diagnostics) and the Envoy configuration rendered from it
//! (`expected/envoy.json`). Regenerate after an intended change with `cargo xtask gen`.

#![allow(
    clippy::unwrap_used,
    reason = "a test helper that cannot read its fixtures should fail the test"
)]

use std::path::{Path, PathBuf};

use clap::Parser;
use expect_test::ExpectFile;
use portcullis::cli::{GatewayArgs, compile_files};
use portcullis_compile::compile::CompileOutput;
use portcullis_envoy::api::to_json_value;
use portcullis_envoy::{
    BootstrapOptions, ConfigDelivery, ConfigDir, RenderOptions, TlsDelivery, WasmModules,
    filter_config_response, render, render_bootstrap,
};
use serde_json::{Value, json};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    gateway: GatewayArgs,
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The gateway flags of a scenario (`expected/gateway-args`, default: the ingress gateway).
pub(crate) fn flags_of(dir: &Path) -> GatewayArgs {
    let text = std::fs::read_to_string(dir.join("expected/gateway-args")).unwrap_or_default();
    let args = std::iter::once("golden").chain(text.split_whitespace());
    Flags::try_parse_from(args).unwrap().gateway
}

fn compiled(dir: &Path) -> CompileOutput {
    let flags = flags_of(dir);
    let mut output = compile_files(&[dir.to_path_buf()], &flags.identity(), &flags.options());
    // File names relative to the scenario, so the golden file does not depend on the checkout.
    let prefix = format!("{}/", dir.display());
    for d in &mut output.diagnostics {
        if let Some(f) = &mut d.file {
            *f = f.strip_prefix(&prefix).unwrap_or(f).to_string();
        }
    }
    output
}

/// Fixed rendering options, so the golden file does not depend on the machine.
fn render_options() -> RenderOptions {
    RenderOptions {
        delivery: ConfigDelivery::Files(ConfigDir::new("/etc/portcullis")),
        bind_address: "127.0.0.1".into(),
        wasm: WasmModules::local(
            "/wasm/portcullis_router.wasm",
            Some(PathBuf::from("/wasm/portcullis_egress_audit.wasm")),
        ),
        tls: TlsDelivery::Inline,
        failure_policy: Default::default(),
        access_log: Some(PathBuf::from("/var/log/portcullis/access.log")),
    }
}

fn rendered(output: &CompileOutput) -> Value {
    let opts = render_options();
    let r = render(&output.envoy, &output.wire, &opts).unwrap();
    let filter_configs: serde_json::Map<String, Value> = r
        .filter_configs
        .iter()
        .map(|config| {
            let doc = to_json_value(&filter_config_response(&r.version, config));
            (config.name.clone(), doc)
        })
        .collect();
    json!({
        "bootstrap": to_json_value(&render_bootstrap(&BootstrapOptions {
            node_id: "portcullis-golden".into(),
            labels: Default::default(),
            namespace: None,
            admin_port: 15000,
            delivery: opts.delivery.clone(),
        })),
        "listeners": to_json_value(&r.listeners_response()),
        "clusters": to_json_value(&r.clusters_response()),
        "filterConfigs": filter_configs,
    })
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

fn golden(path: PathBuf) -> ExpectFile {
    ExpectFile {
        path,
        position: file!(),
    }
}

fn scenarios() -> Vec<PathBuf> {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    scenarios.sort();
    assert!(!scenarios.is_empty(), "no scenario under examples/");
    scenarios
}

/// Each example compiles to its committed wire config, plan and diagnostics.
#[test]
fn examples_compile_to_their_golden_files() {
    for dir in scenarios() {
        golden(dir.join("expected/compiled.json")).assert_eq(&pretty(&compiled(&dir)));
    }
}

/// Each example renders to its committed Envoy configuration.
#[test]
fn examples_render_to_their_golden_envoy_config() {
    for dir in scenarios() {
        golden(dir.join("expected/envoy.json")).assert_eq(&pretty(&rendered(&compiled(&dir))));
    }
}

/// What `portcullis bootstrap <source...>` prints for the deploy examples' gateway.
fn example_gateway_bootstrap(source: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("bootstrap")
        .args(source)
        .args(["--node-id", "ingressgateway", "--admin-port", "15000"])
        .args(["--gateway-labels", "istio=ingressgateway"])
        .args(["--gateway-namespace", "portcullis-system"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Envoy bootstrap in `examples/deploy/` is what `portcullis bootstrap` prints for that
/// gateway (the Envoy Deployment mounts it).
#[test]
fn the_deploy_example_bootstrap_is_current() {
    golden(examples_dir().join("deploy/gateway-bootstrap.json")).assert_eq(
        &example_gateway_bootstrap(&["--xds-address", "portcullis.portcullis-system:15010"]),
    );
}

/// The file-reading bootstrap in `examples/deploy/config-map/` is what `portcullis bootstrap
/// --config-dir` prints for the ConfigMap distribution's default mount path.
#[test]
fn the_config_map_example_bootstrap_is_current() {
    golden(examples_dir().join("deploy/config-map/gateway-bootstrap.json")).assert_eq(
        &example_gateway_bootstrap(&["--config-dir", "/etc/portcullis/config"]),
    );
}

/// What `examples/deploy/` applies compiles for its gateway workload without a finding.
#[test]
fn the_deploy_example_resources_compile() {
    let path = examples_dir().join("deploy/resources.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = portcullis_compile::load::load_str(&text, Some("resources.yaml"));
    let args = Flags::try_parse_from([
        "golden",
        "--gateway-labels",
        "istio=ingressgateway",
        "--gateway-namespace",
        "portcullis-system",
    ])
    .unwrap()
    .gateway;
    let out = portcullis_compile::compile::compile(
        &loaded.resources,
        &args.identity(),
        &portcullis_compile::compile::CompileOptions::default(),
    );
    let findings: Vec<String> = loaded
        .diagnostics
        .iter()
        .chain(&out.diagnostics)
        .filter(|d| d.severity != portcullis_compile::diagnostics::Severity::Info)
        .map(|d| d.to_string())
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(out.wire.listeners.len(), 1);
}
