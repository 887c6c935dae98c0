//! `portcullis bootstrap` and `portcullis status`, as a user runs them.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::process::Command;

use portcullis_envoy::WasmModules;
use portcullis_xds::{ModuleSource, ProxyDefaults, XdsServer};
use serde_json::Value;

fn portcullis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

/// The bootstrap names the workload in node metadata and reaches the server by DNS over ADS.
#[test]
fn bootstrap_points_a_gateway_at_the_server() {
    let out = portcullis(&[
        "bootstrap",
        "--xds-address",
        "portcullis.portcullis-system:15010",
        "--node-id",
        "egress-7d9f",
        "--gateway-labels",
        "istio=egressgateway,app=edge",
        "--gateway-namespace",
        "edge",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b["node"]["id"], "egress-7d9f");
    assert_eq!(b["node"]["metadata"]["LABELS"]["istio"], "egressgateway");
    assert_eq!(b["node"]["metadata"]["LABELS"]["app"], "edge");
    assert_eq!(b["node"]["metadata"]["NAMESPACE"], "edge");
    assert_eq!(
        b["dynamic_resources"]["lds_config"]["ads"],
        serde_json::json!({})
    );
    let xds = &b["static_resources"]["clusters"][0];
    assert_eq!(xds["type"], "STRICT_DNS");
    let address = &xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        ["socket_address"];
    assert_eq!(address["address"], "portcullis.portcullis-system");
    assert_eq!(address["port_value"], 15010);
}

/// A malformed server address is a usage error.
#[test]
fn bootstrap_refuses_a_bad_address() {
    for bad in ["no-port", ":15010", "host:port"] {
        let out = portcullis(&["bootstrap", "--xds-address", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"));
    }
}

/// With `--config-dir` the bootstrap reads listeners and clusters from the mount's root and
/// reloads them when the kubelet renames `..data` there; no xDS server is named.
#[test]
fn a_config_dir_bootstrap_reads_the_mounted_files() {
    let out = portcullis(&["bootstrap", "--config-dir", "/etc/portcullis/config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (source, file) in [("lds_config", "lds.json"), ("cds_config", "cds.json")] {
        let path = &b["dynamic_resources"][source]["path_config_source"];
        assert_eq!(
            path["path"],
            format!("/etc/portcullis/config/{file}"),
            "{b}"
        );
        assert_eq!(path["watched_directory"]["path"], "/etc/portcullis/config");
    }
    assert!(b.get("static_resources").is_none(), "{b}");
    assert!(b["dynamic_resources"].get("ads_config").is_none(), "{b}");
}

/// A relative directory, or both sources at once, is a usage error.
#[test]
fn a_config_dir_bootstrap_refuses_ambiguity() {
    let out = portcullis(&["bootstrap", "--config-dir", "config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute"));
    let out = portcullis(&[
        "bootstrap",
        "--config-dir",
        "/etc/portcullis/config",
        "--xds-address",
        "a:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `status` reads a live server (no proxy yet: only the header), and says so when it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_the_server() {
    let server = XdsServer::new(ProxyDefaults {
        bind_address: "127.0.0.1".into(),
        access_log: None,
        modules: ModuleSource::Local(WasmModules::local("/nonexistent.wasm", None)),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    let address = format!("127.0.0.1:{port}");
    let out = tokio::task::spawn_blocking(move || portcullis(&["status", "--server", &address]))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NODE"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");

    let unreachable = format!("127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let out = portcullis(&["status", "--server", &unreachable]);
    assert_eq!(out.status.code(), Some(1));
}
