//! Project tasks: `cargo xtask <task>`.
//!
//! - `wasm`: build the three filters for `wasm32-wasip1` (release, size-optimised) and print
//!   their sizes;
//! - `up [ARGS]`: build what is needed and serve the seed example (or `ARGS`) through a real
//!   Envoy;
//! - `test`: the whole test suite, exactly what CI runs (installs the wasm targets and Envoy);
//! - `gen [--check]`: regenerate every generated and golden file, or fail on drift;
//! - `playground [--port N | --test]`: build the browser playground and serve it on 127.0.0.1
//!   (default port 8642), or run its test in headless Chromium;
//! - `fuzz [--seconds N] [TARGET ...]`: coverage-guided fuzzing of every fuzz target (needs a
//!   nightly toolchain and cargo-fuzz; `cargo test` replays the corpora on stable).
//!
//! xtask owns building the `.wasm` modules and installing Envoy for development; the
//! `portcullis` binary only finds them (`PORTCULLIS_WASM_DIR`, `PORTCULLIS_ENVOY`).

mod envoy;
mod exports;
mod fuzz;
mod kmock;
mod playground;
mod rules;
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
        Some("playground") => serve_playground(rest),
        Some("fuzz") => fuzz::run(rest),
        _ => bail!(
            "usage: cargo xtask <wasm|up [ARGS]|test|gen [--check]|playground [--port N]|fuzz [--seconds N] [TARGET ...]>"
        ),
    }
}

/// Serves `examples/seed` (or what the arguments say) with demo upstreams, on Gateway ports
/// plus 10000 so no privileges are needed.
fn up(rest: &[String]) -> Result<()> {
    wasm::build_and_report()?;
    let envoy = envoy::ensure()?;
    // The dev profile: the release profile is tuned for small .wasm (LTO, one codegen unit)
    // and would make this native build several times slower for no visible gain.
    let mut args = vec!["run", "--quiet", "-p", "portcullis", "--", "up"];
    if !rest.iter().any(|a| a == "-f") {
        args.extend(["-f", "examples/seed", "--demo-upstreams"]);
    }
    if !rest.iter().any(|a| a == "--port-offset") {
        args.extend(["--port-offset", "10000"]);
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    args.extend(rest);
    let wasm_dir = wasm::dir();
    run::cargo(
        &args,
        &[
            ("PORTCULLIS_ENVOY", envoy.as_str()),
            ("PORTCULLIS_WASM_DIR", wasm_dir.as_str()),
        ],
    )
}

/// Builds the playground and serves it until interrupted, or (`--test`) runs its browser test.
fn serve_playground(rest: &[String]) -> Result<()> {
    if rest == ["--test"] {
        return playground::browser_test();
    }
    let port = match rest {
        [] => 8642,
        [flag, port] if flag == "--port" => port
            .parse()
            .map_err(|_| anyhow::anyhow!("--port needs a number, got {port:?}"))?,
        _ => bail!("usage: cargo xtask playground [--port N | --test]"),
    };
    playground::build()?;
    let listener = playground::bind(port)?;
    println!(
        "playground: http://{}/ (Ctrl-C stops it)",
        listener.local_addr()?
    );
    playground::serve(listener)
}

/// The whole suite: formatting, lints, rule ids, generated files, portability builds, every
/// test (unit, wasm host, real Envoy end to end).
fn test() -> Result<()> {
    let started = std::time::Instant::now();
    run::step("cargo fmt --check", || {
        run::cargo(&["fmt", "--all", "--", "--check"], &[])
    })?;
    run::step(
        "rule ids cited in the code are defined in docs/semantics.md",
        || rules::check(&run::root()),
    )?;
    run::step("filters for wasm32-wasip1", || {
        wasm::build_and_report().map(|_| ())
    })?;
    // The playground links core and compile for wasm32-unknown-unknown: a dependency that
    // needs an operating system fails here first.
    run::step(
        "playground (wasm32-unknown-unknown) in headless Chromium",
        playground::browser_test,
    )?;
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
    // The other generated files (CRD, goldens, render snapshots) are expect-test assertions in
    // `cargo test --workspace` below, which fails on drift; running them here as well, one
    // package at a time, would build the control plane again with other feature sets.
    run::step("generated wire schema is up to date", || {
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
            &[],
        )
    })?;
    run::step("portcullis release binary", || {
        run::cargo(&["build", "--release", "-p", "portcullis"], &[])
    })?;
    let wasm_dir = wasm::dir();
    let release_bin = run::root()
        .join("target/release/portcullis")
        .to_string_lossy()
        .into_owned();
    run::step("cargo test --workspace", || {
        run::cargo(
            &["test", "--workspace"],
            &[
                ("PORTCULLIS_ENVOY", envoy.as_str()),
                ("PORTCULLIS_WASM_DIR", wasm_dir.as_str()),
                ("PORTCULLIS_RELEASE_BIN", release_bin.as_str()),
            ],
        )
    })?;
    run::step(
        "black box: portcullis controller against kmock (PyPI)",
        || kmock::run(&release_bin, &envoy, &wasm_dir),
    )?;
    // The real-cluster test needs a cluster; it runs whenever the user points at one.
    if std::env::var_os("KUBECONFIG").is_some() {
        run::step("real-cluster e2e (KUBECONFIG is set)", || {
            run::cargo(
                &[
                    "test",
                    "-p",
                    "portcullis",
                    "--test",
                    "e2e",
                    "--",
                    "--ignored",
                    "cluster::",
                ],
                &[
                    ("PORTCULLIS_ENVOY", envoy.as_str()),
                    ("PORTCULLIS_WASM_DIR", wasm_dir.as_str()),
                ],
            )
        })?;
    }
    println!("xtask test: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Regenerates (or, with `check`, verifies) every generated and golden file: the wire JSON
/// Schema, the GatewayFilter CRD, the golden compiled and rendered examples, the deploy
/// example's Envoy bootstrap, the render snapshots and the core's
/// inline snapshots. Each is an `expect-test` assertion, rewritten under `UPDATE_EXPECT=1`.
fn generate(check: bool) -> Result<()> {
    let bless: &[(&str, &str)] = if check {
        &[]
    } else {
        &[("UPDATE_EXPECT", "1")]
    };
    run::cargo(
        &["test", "-p", "portcullis-core", "--features", "schema"],
        bless,
    )?;
    run::cargo(&["test", "-p", "portcullis-envoy", "--lib"], bless)?;
    run::cargo(
        &[
            "test",
            "-p",
            "portcullis-controller",
            "--test",
            "all",
            "--",
            "crd::",
        ],
        bless,
    )?;
    run::cargo(
        &[
            "test",
            "-p",
            "portcullis",
            "--test",
            "cli",
            "--",
            "golden::",
        ],
        bless,
    )
}
