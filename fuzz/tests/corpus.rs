//! The fuzz targets on stable, in every test run: each file of `corpus/<target>/` (the seeds,
//! and every input a fuzzer found worth keeping or that once crashed), then a bounded number
//! of deterministic mutations of them. Coverage-guided fuzzing runs with `cargo xtask fuzz`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure must stop the test at once, like an assert"
)]

use std::path::{Path, PathBuf};

use portcullis_core::{Entropy, SplitMix64};
use portcullis_fuzz::TARGETS;

/// Mutations per target and test run: enough to smoke every target, bounded in time.
const MUTATIONS: usize = 2_000;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// One mutation of `seed`: byte flips, insertions, deletions and splices with `other`.
fn mutate(seed: &[u8], other: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=(rng.next_u32() % 4) {
        let at = |rng: &mut SplitMix64, len: usize| (rng.next_u32() as usize) % (len + 1);
        match rng.next_u32() % 5 {
            0 if !out.is_empty() => {
                let i = at(rng, out.len() - 1);
                out[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => {
                let i = at(rng, out.len());
                let byte =
                    [0u8, b'*', b'.', b':', b'/', b'%', b'\n', 0xff][rng.next_u32() as usize % 8];
                out.insert(i, byte);
            }
            2 if !out.is_empty() => {
                let i = at(rng, out.len() - 1);
                out.remove(i);
            }
            3 if !other.is_empty() => {
                let (i, j) = (at(rng, out.len()), at(rng, other.len()));
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            _ => {
                let i = at(rng, out.len());
                out.truncate(i);
            }
        }
    }
    out
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    for (name, target) in TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "corpus/{name}/ has no seed");
        for (path, bytes) in &seeds {
            let outcome = std::panic::catch_unwind(|| target(bytes));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
        }
        let mut rng = SplitMix64(0x5eed ^ name.len() as u64);
        for n in 0..MUTATIONS {
            let seed = &seeds[n % seeds.len()].1;
            let other = &seeds[(rng.next_u32() as usize) % seeds.len()].1;
            let input = mutate(seed, other, &mut rng);
            let outcome = std::panic::catch_unwind(|| target(&input));
            assert!(
                outcome.is_ok(),
                "{name}: mutation {n} fails; its input, to keep as a regression seed: {input:?}"
            );
        }
    }
}
