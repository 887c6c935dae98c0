//! Property tests of the matcher invariants (G-9, S-2, V-10, V-15, S-4).

use portcullis_core::host::{HostIndex, HostPattern, MatchKind, normalize_authority};
use portcullis_core::route::first_param;
use portcullis_core::strmatch::{StrMatcher, ValueMatcher, full_match_regex};
use portcullis_core::wire::{StringMatch, ValueMatch};
use proptest::prelude::*;

/// A DNS label from a tiny alphabet, so random hosts and patterns often collide.
fn label() -> impl Strategy<Value = String> {
    "[ab]{1,2}"
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => name(),
        3 => name().prop_map(|n| format!("*.{n}")),
        2 => name().prop_map(|n| format!("{n}.*")),
        1 => Just("*".to_string()),
    ]
}

/// The naive reference: scan every pattern, keep the most specific by (kind, length).
fn reference<'p>(patterns: &'p [HostPattern], host: &str) -> Option<&'p HostPattern> {
    let rank = |p: &HostPattern| match p {
        HostPattern::Exact(_) => (MatchKind::Exact, 0),
        HostPattern::Suffix(s) => (MatchKind::Suffix, usize::MAX - s.len()),
        HostPattern::Prefix(s) => (MatchKind::Prefix, usize::MAX - s.len()),
        HostPattern::Any => (MatchKind::Any, 0),
    };
    patterns
        .iter()
        .filter(|p| p.matches(host))
        .min_by_key(|p| rank(p))
}

/// Indexes the patterns (all valid by construction; invalid ones are skipped), returning the
/// ones kept (first of each duplicate).
fn index(patterns: &[String]) -> (HostIndex<usize>, Vec<HostPattern>) {
    let mut idx = HostIndex::new();
    let mut kept = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let Ok(p) = p.parse::<HostPattern>() else {
            continue;
        };
        if idx.insert(&p, i).is_ok() {
            kept.push(p);
        }
    }
    (idx, kept)
}

proptest! {
    /// G-9: the index agrees with a linear scan over the same patterns.
    #[test]
    fn index_equals_linear_reference(patterns in prop::collection::vec(pattern(), 0..12), host in name()) {
        let (idx, kept) = index(&patterns);
        let got = idx.lookup(&host).map(|m| m.pattern.to_string());
        let want = reference(&kept, &host).map(|p| p.to_string());
        prop_assert_eq!(got, want);
    }

    /// G-9: an exact pattern always beats every wildcard.
    #[test]
    fn exact_beats_wildcards(patterns in prop::collection::vec(pattern(), 0..12), host in name()) {
        let mut all = patterns;
        all.push(host.clone());
        let (idx, _) = index(&all);
        let m = idx.lookup(&host).unwrap();
        prop_assert_eq!(m.kind, MatchKind::Exact);
        prop_assert_eq!(m.pattern, host.as_str());
    }

    /// S-2: lookup ignores ASCII case and any port.
    #[test]
    fn case_and_port_insensitive(
        patterns in prop::collection::vec(pattern(), 0..12),
        host in name(),
        upper in prop::collection::vec(any::<bool>(), 0..12),
        port in prop::option::of(any::<u16>()),
    ) {
        let (idx, _) = index(&patterns);
        let mut mangled: String = host
            .chars()
            .zip(upper.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        if let Some(p) = port {
            mangled = format!("{mangled}:{p}");
        }
        prop_assert_eq!(normalize_authority(&mangled), host.as_str());
        let a = idx.lookup(&host).map(|m| m.pattern);
        let b = idx.lookup_authority(&mangled).map(|m| m.pattern);
        prop_assert_eq!(a, b);
    }

    /// V-10: prefix ⇔ `starts_with`, exact ⇔ `==`, ignore-case ⇔ ASCII-lowercased comparison.
    #[test]
    fn prefix_and_exact(p in "[a-cA-C/é]{0,4}", v in "[a-cA-C/é]{0,6}") {
        let m = |s: StringMatch, ic| StrMatcher::compile(&s, ic).unwrap();
        prop_assert_eq!(m(StringMatch::Prefix(p.clone()), false).matches(&v), v.starts_with(&p));
        prop_assert_eq!(m(StringMatch::Exact(p.clone()), false).matches(&v), v == p);
        let (lp, lv) = (p.to_ascii_lowercase(), v.to_ascii_lowercase());
        prop_assert_eq!(m(StringMatch::Prefix(p.clone()), true).matches(&v), lv.starts_with(&lp));
        prop_assert_eq!(m(StringMatch::Exact(p.clone()), true).matches(&v), lv == lp);
    }

    /// V-10: a compiled regex is a full match: it agrees with a `^(?:…)$` reference, and for
    /// literal patterns with equality.
    #[test]
    fn regex_full_match(p in "([ab]|\\.|\\*|\\||\\?){1,6}", v in "[ab]{0,5}") {
        prop_assume!(regex_lite::Regex::new(&p).is_ok());
        let ours = full_match_regex(&p).unwrap();
        let reference = regex_lite::Regex::new(&format!("^(?:{p})$")).unwrap();
        prop_assert_eq!(ours.is_match(&v), reference.is_match(&v));
    }

    /// S-4: RE2's Perl classes are ASCII for every character.
    #[test]
    fn perl_classes_ascii(c in any::<char>()) {
        let s = c.to_string();
        let is = |p: &str| full_match_regex(p).unwrap().is_match(&s);
        prop_assert_eq!(is(r"\d"), c.is_ascii_digit());
        prop_assert_eq!(is(r"\w"), c.is_ascii_alphanumeric() || c == '_');
        prop_assert_eq!(is(r"\s"), matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' '));
        prop_assert_eq!(is(r"\D"), !c.is_ascii_digit());
        prop_assert_eq!(is(r"[\w]"), is(r"\w"));
    }

    /// V-15: the query walker equals a naive split-and-collect reference.
    #[test]
    fn query_first_param(q in "[ab=&]{0,12}", k in "[ab]{1,2}") {
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|s| match s.find('=') {
                Some(i) => (s[..i].to_string(), s[i + 1..].to_string()),
                None => (s.to_string(), String::new()),
            })
            .collect();
        let want = pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        prop_assert_eq!(first_param(&q, &k), want);
        let present = ValueMatcher::compile(&ValueMatch::Present(true)).unwrap();
        prop_assert_eq!(present.matches(first_param(&q, &k)), want.is_some());
    }
}
