//! `cargo xtask fuzz [--seconds N] [TARGET ...]`: coverage-guided fuzzing (libFuzzer, through
//! cargo-fuzz) of every target in `fuzz/`, each for N seconds (default 60), starting from the
//! committed seeds in `fuzz/corpus/<target>/`. What the fuzzer learns is kept in
//! `target/fuzz/corpus/<target>/`, so a later run goes on from there; a crash stops the run
//! and its input is left in `target/fuzz/artifacts/<target>/`.
//!
//! libFuzzer's instrumentation needs a nightly toolchain and cargo-fuzz; without them this
//! says how to get them. Every `cargo test` already runs each target on stable over its
//! corpus and a bounded set of mutations (`fuzz/tests/corpus.rs`), so CI exercises them all.

use anyhow::{Context, Result, bail};

use crate::run;

/// The targets, as `fuzz/libfuzzer/fuzz_targets/` and `fuzz/corpus/` name them.
const TARGETS: [&str; 6] = [
    "wire_config",
    "istio_yaml",
    "decide",
    "egress",
    "regex",
    "audit_delivery",
];

pub fn run(rest: &[String]) -> Result<()> {
    let (seconds, targets) = parse(rest)?;
    for (tool, args) in [
        (
            "a nightly toolchain (rustup toolchain install nightly)",
            &["+nightly", "--version"][..],
        ),
        (
            "cargo-fuzz (cargo install cargo-fuzz)",
            &["+nightly", "fuzz", "--version"][..],
        ),
    ] {
        run::output("cargo", args).with_context(|| {
            format!(
                "coverage-guided fuzzing needs {tool}; without it, `cargo test -p portcullis-fuzz` runs every target over its corpus on stable"
            )
        })?;
    }
    let root = run::root();
    for target in targets {
        let work = root.join("target/fuzz/corpus").join(target);
        let artifacts = root.join("target/fuzz/artifacts").join(target);
        std::fs::create_dir_all(&work)?;
        std::fs::create_dir_all(&artifacts)?;
        let (work, seeds) = (
            work.to_string_lossy().into_owned(),
            format!("fuzz/corpus/{target}"),
        );
        let limit = format!("-max_total_time={seconds}");
        let prefix = format!("-artifact_prefix={}/", artifacts.display());
        run::step(&format!("fuzz {target} for {seconds} s"), || {
            run::command(
                "cargo",
                &[
                    "+nightly", "fuzz", "run", "-O", "--fuzz-dir", "fuzz/libfuzzer", target,
                    &work, &seeds, "--", &limit, &prefix, "-print_final_stats=1",
                ],
                &[],
            )
            .with_context(|| {
                format!(
                    "{target} found a failing input: it is in {}; once fixed, add it to {seeds}/ as a regression seed",
                    artifacts.display()
                )
            })
        })?;
    }
    Ok(())
}

/// `--seconds N` and target names (default: every target).
fn parse(rest: &[String]) -> Result<(u64, Vec<&'static str>)> {
    let mut seconds = 60;
    let mut targets = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let n = args.next().context("--seconds needs a number")?;
            seconds = n
                .parse()
                .with_context(|| format!("--seconds needs a number, got {n:?}"))?;
        } else if let Some(t) = TARGETS.iter().find(|t| **t == arg) {
            targets.push(*t);
        } else {
            bail!(
                "usage: cargo xtask fuzz [--seconds N] [TARGET ...]; targets: {}",
                TARGETS.join(", ")
            );
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    Ok((seconds, targets))
}
