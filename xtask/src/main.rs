//! Project tasks: `cargo xtask <task>`.
//!
//! - `wasm`: build the three filters for `wasm32-wasip1` (release, size-optimised) and print
//!   their sizes;
//! - `up`: build what is needed and serve the seed example through a real Envoy;
//! - `test`: the whole test suite, exactly what CI runs (installs the wasm target and Envoy);
//! - `gen [--check]`: regenerate generated files (JSON Schema, golden files) or fail on drift.

mod envoy;
mod run;
mod wasm;

use std::process::ExitCode;

use anyhow::{Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("wasm") => wasm::build_and_report().map(|_| ()),
        Some("up") => up(rest),
        Some("test") => test(),
        Some("gen") => generate(rest.iter().any(|a| a == "--check")),
        _ => bail!("usage: cargo xtask <wasm|up|test|gen [--check]>"),
    }
}

/// Serves `examples/seed` (or the directory given) with demo upstreams.
fn up(rest: &[String]) -> Result<()> {
    wasm::build_and_report()?;
    let envoy = envoy::ensure()?;
    // The dev profile: the release profile is tuned for small .wasm (LTO, one codegen unit)
    // and would make this native build several times slower for no visible gain.
    let mut args = vec!["run", "--quiet", "-p", "portcullis", "--", "up"];
    if !rest.iter().any(|a| a == "-f") {
        args.extend(["-f", "examples/seed", "--demo-upstreams"]);
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    args.extend(rest);
    run::cargo(
        &args,
        &[
            ("PORTCULLIS_ENVOY", envoy.as_str()),
            ("PORTCULLIS_WASM_DIR", wasm::DIR),
        ],
    )
}

/// The whole suite: formatting, lints, every test (unit, wasm host, real Envoy end to end).
/// Generated files are checked for drift by their own tests (`schema`, `golden`), which run
/// in `cargo test --workspace`.
fn test() -> Result<()> {
    let started = std::time::Instant::now();
    run::step("cargo fmt --check", || {
        run::cargo(&["fmt", "--all", "--", "--check"], &[])
    })?;
    run::step("filters for wasm32-wasip1", || {
        wasm::build_and_report().map(|_| ())
    })?;
    let envoy = run::step("Envoy", envoy::ensure)?;
    run::step("clippy (native)", || {
        run::cargo(
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    run::step("clippy (wasm32-wasip1)", || {
        run::cargo(
            &[
                "clippy",
                "--release",
                "--target",
                "wasm32-wasip1",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    run::step("cargo test --workspace", || {
        run::cargo(
            &["test", "--workspace"],
            &[
                ("PORTCULLIS_ENVOY", envoy.as_str()),
                ("PORTCULLIS_WASM_DIR", wasm::DIR),
            ],
        )
    })?;
    println!("xtask test: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Regenerates (or, with `check`, verifies) every generated file. Each generator is a test
/// that compares its output with the committed file and rewrites it under `PORTCULLIS_BLESS=1`.
fn generate(check: bool) -> Result<()> {
    let bless: &[(&str, &str)] = if check {
        &[]
    } else {
        &[("PORTCULLIS_BLESS", "1")]
    };
    run::cargo(
        &[
            "test",
            "-p",
            "portcullis-core",
            "--features",
            "schema",
            "--test",
            "schema",
        ],
        bless,
    )?;
    run::cargo(&["test", "-p", "portcullis", "--test", "golden"], bless)
}
