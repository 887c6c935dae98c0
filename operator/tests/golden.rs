//! Golden tests: every `examples/<scenario>/` compiles to `expected/compiled.json` (wire config,
//! Envoy plan, diagnostics). Bless after an intended change with
//! `PORTCULLIS_BLESS=1 cargo test -p portcullis --test golden`.

#![allow(
    clippy::unwrap_used,
    reason = "a test helper that cannot read its fixtures should fail the test"
)]

use std::path::{Path, PathBuf};

use clap::Parser;
use portcullis::cli::{GatewayArgs, compile_files};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    gateway: GatewayArgs,
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The gateway flags of a scenario (`expected/gateway-args`, default: the ingress gateway).
fn flags_of(dir: &Path) -> GatewayArgs {
    let text = std::fs::read_to_string(dir.join("expected/gateway-args")).unwrap_or_default();
    let args = std::iter::once("golden").chain(text.split_whitespace());
    Flags::try_parse_from(args).unwrap().gateway
}

fn render(dir: &Path) -> String {
    let flags = flags_of(dir);
    let mut output = compile_files(&[dir.to_path_buf()], &flags.identity(), &flags.options());
    // File names relative to the scenario, so the golden file does not depend on the checkout.
    let prefix = format!("{}/", dir.display());
    for d in &mut output.diagnostics {
        if let Some(f) = &mut d.file {
            *f = f.strip_prefix(&prefix).unwrap_or(f).to_string();
        }
    }
    serde_json::to_string_pretty(&output).unwrap() + "\n"
}

#[test]
fn examples_match_their_golden_files() {
    let bless = std::env::var_os("PORTCULLIS_BLESS").is_some();
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    scenarios.sort();
    assert!(!scenarios.is_empty(), "no scenario under examples/");
    let mut failures = Vec::new();
    for dir in scenarios {
        let actual = render(&dir);
        let golden = dir.join("expected/compiled.json");
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            let first = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            failures.push(format!(
                "{}: differs from the golden file at line {} (got {:?}); bless with PORTCULLIS_BLESS=1 cargo test -p portcullis --test golden",
                golden.display(),
                first + 1,
                actual.lines().nth(first).unwrap_or("<end>")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
