//! Property: the indexed egress host table agrees with a naive reading of G-9.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failing test should stop at the failing line"
)]

use portcullis_core::egress::DenyReason;
use portcullis_core::wire::WireConfig;
use portcullis_core::{EgressDecision, EgressPolicy};
use proptest::prelude::*;
use serde_json::json;

const LABELS: &[&str] = &["a", "b", "ex", "com"];

fn host() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(LABELS), 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(labels, upper, dot)| {
            let mut h = labels.join(".");
            if upper {
                h = h.to_uppercase();
            }
            if dot {
                h.push('.');
            }
            h
        })
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_string()),
        3 => prop::collection::vec(prop::sample::select(LABELS), 1..3).prop_map(|l| l.join(".")),
        3 => prop::collection::vec(prop::sample::select(LABELS), 1..3)
            .prop_map(|l| format!("*.{}", l.join("."))),
    ]
}

/// Naive G-9: rank every entry allowing the port (exact 3, suffix 2 + length, `*` 1), take the
/// best, first in wire order on ties.
fn naive(entries: &[(String, Vec<u16>)], authority: &str, port: u16) -> Result<usize, DenyReason> {
    let host = authority.split(':').next().unwrap().to_ascii_lowercase();
    let rank = |p: &str| -> Option<(u32, usize)> {
        if p == "*" {
            Some((1, 0))
        } else if let Some(s) = p.strip_prefix("*.") {
            let tail = format!(".{s}");
            (host.len() > tail.len() && host.ends_with(&tail)).then_some((2, s.len()))
        } else {
            (p == host).then_some((3, 0))
        }
    };
    let mut best: Option<((u32, usize), usize)> = None;
    let mut any_host = false;
    for (i, (p, ports)) in entries.iter().enumerate() {
        let Some(r) = rank(p) else { continue };
        any_host = true;
        if !(ports.is_empty() || ports.contains(&port)) {
            continue;
        }
        if best.is_none_or(|(b, _)| r > b) {
            best = Some((r, i));
        }
    }
    match best {
        Some((_, i)) => Ok(i),
        None if any_host => Err(DenyReason::PortNotAllowed),
        None => Err(DenyReason::UnknownHost),
    }
}

proptest! {
    /// The compiled policy decides exactly as the naive ranking.
    #[test]
    fn host_table_matches_naive_g9(
        entries in prop::collection::vec(
            (pattern(), prop::collection::vec(prop::sample::select(&[80u16, 443][..]), 0..2)),
            0..6,
        ),
        authority in host(),
        port in prop::sample::select(&[80u16, 443, 8080][..]),
    ) {
        let allowed_hosts: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(i, (h, ports))| json!({ "host": h, "ports": ports, "rule": format!("r{i}") }))
            .collect();
        let config = json!({"version": 1, "configVersion": "t", "egress": {"allowedHosts": allowed_hosts}});
        let config = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
        let policy = EgressPolicy::from_wire(&config).unwrap();
        let got = policy.decide_http(&format!("{authority}:{port}"), port);
        match naive(&entries, &authority, port) {
            Ok(i) => prop_assert_eq!(got, EgressDecision::Allowed {
                rule: &format!("r{i}"),
                host_pattern: &entries[i].0,
            }),
            Err(reason) => prop_assert_eq!(got, EgressDecision::Denied { reason }),
        }
    }
}
