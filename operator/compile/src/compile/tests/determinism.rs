//! `compile` is a function of the set of resources: input order never changes the output.

use crate::compile::{CompileOptions, GatewayIdentity, compile};
use crate::istio::Resources;
use crate::load::load_str;
use proptest::prelude::*;

fn all_examples() -> Resources {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dirs: Vec<_> = ["seed", "bookinfo", "egress", "features"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let mut resources = Resources::default();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            resources.extend(load_str(&text, file.to_str()).resources);
        }
    }
    resources
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Shuffling every resource list gives a byte-identical output and hash.
    #[test]
    fn shuffled_input_gives_identical_output(seed in any::<u64>()) {
        let base = all_examples();
        let mut shuffled = base.clone();
        let mut state = seed;
        let mut next = move |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize % n.max(1)
        };
        fn shuffle<T>(v: &mut [T], next: &mut impl FnMut(usize) -> usize) {
            for i in (1..v.len()).rev() {
                v.swap(i, next(i + 1));
            }
        }
        shuffle(&mut shuffled.gateways, &mut next);
        shuffle(&mut shuffled.virtual_services, &mut next);
        shuffle(&mut shuffled.service_entries, &mut next);
        shuffle(&mut shuffled.destination_rules, &mut next);
        shuffle(&mut shuffled.secrets, &mut next);
        let id = GatewayIdentity::default();
        let a = compile(&base, &id, &CompileOptions::default());
        let b = compile(&shuffled, &id, &CompileOptions::default());
        prop_assert_eq!(&a.content_hash, &b.content_hash);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}

/// The hash is `sha256:` and 64 hex digits, and is the wire `configVersion`.
#[test]
fn hash_format() {
    let out = compile(
        &all_examples(),
        &GatewayIdentity::default(),
        &CompileOptions::default(),
    );
    assert!(out.content_hash.starts_with("sha256:"));
    assert_eq!(out.content_hash.len(), 7 + 64);
    assert_eq!(out.wire.config_version, out.content_hash);
}
