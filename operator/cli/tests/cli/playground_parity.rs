//! `portcullis explain` (the binary) and the browser playground's engine give the same answer
//! for every example: the same compile, the same decision, serialised alike. Each example is
//! asked about every host its servers list (wildcards made concrete), a host none lists, and
//! two paths, on every listener.
#![allow(clippy::unwrap_used, reason = "a failed step should fail the test")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The example's YAML files as one text, as a user pastes them into the page.
fn yaml_of(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    texts.join("\n---\n")
}

/// `expected/gateway-args` (the flags the golden test compiles with), split for the binary.
fn gateway_args(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("expected/gateway-args"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The same flags, parsed as the CLI parses them, as the playground's identity JSON.
fn identity(dir: &Path) -> Value {
    let identity = crate::golden::flags_of(dir).identity();
    json!({"labels": identity.labels, "namespace": identity.namespace})
}

fn concrete(host: &str) -> String {
    match host.strip_prefix("*.") {
        Some(rest) => format!("any.{rest}"),
        None if host == "*" => "anything.example".to_string(),
        None => host.to_string(),
    }
}

fn cli_explain(dir: &Path, args: &[String], host: &str, port: u16, path: &str) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("explain")
        .arg("-f")
        .arg(dir)
        .args(args)
        .args([
            "--host",
            host,
            "--path",
            path,
            "--port",
            &port.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn explain_and_the_playground_agree_on_every_example() {
    let mut compared = 0;
    for dir in examples() {
        let args = gateway_args(&dir);
        let compiled =
            portcullis_playground::api::compile(&yaml_of(&dir), &identity(&dir).to_string());
        let wire = serde_json::to_value(compiled.wire.as_ref().unwrap()).unwrap();
        let wire_json = wire.to_string();
        for listener in wire["listeners"].as_array().unwrap() {
            let port = u16::try_from(listener["port"].as_u64().unwrap()).unwrap();
            let mut hosts: Vec<String> = listener["servers"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["hosts"].as_array().unwrap().iter())
                .map(|h| concrete(h.as_str().unwrap()))
                .collect();
            hosts.push("other.invalid".to_string());
            hosts.dedup();
            for host in &hosts {
                for path in ["/", "/status/418?x=1"] {
                    let request = json!({"host": host, "port": port, "path": path}).to_string();
                    let ours = portcullis_playground::api::explain(&wire_json, &request);
                    let theirs = cli_explain(&dir, &args, host, port, path);
                    let ours = ours.explanation.map(|e| serde_json::to_value(e).unwrap());
                    assert_eq!(
                        ours,
                        theirs,
                        "{} {host}:{port}{path}: the playground and `portcullis explain` differ",
                        dir.display()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 20, "only {compared} requests compared");
}
