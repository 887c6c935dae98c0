//! Host patterns and the host index (G-5, G-9, S-2), by example and, against a naive reading
//! of G-9, by property.

use proptest::prelude::*;

use super::*;

fn p(s: &str) -> HostPattern {
    s.parse().unwrap()
}

/// G-5: the accepted forms, lowercased.
#[test]
fn parse_forms() {
    assert_eq!(
        p("Dev.Example.COM"),
        HostPattern::Exact("dev.example.com".into())
    );
    assert_eq!(
        p("*.example.com"),
        HostPattern::Suffix(".example.com".into())
    );
    assert_eq!(p("foo.*"), HostPattern::Prefix("foo.".into()));
    assert_eq!(p("*"), HostPattern::Any);
    assert_eq!(p("10.0.0.1"), HostPattern::Exact("10.0.0.1".into()));
    assert_eq!(p("::1"), HostPattern::Exact("[::1]".into()));
    assert_eq!(p("[::1]"), HostPattern::Exact("[::1]".into()));
    assert_eq!(p("*.example.com").to_string(), "*.example.com");
    for bad in [
        "",
        "a..b",
        "dev.example.com.",
        "*example.com",
        "a.*.com",
        "**",
        "a b",
        "a:80",
        "[::1]:80",
        "[zz]",
        "é.com",
        ".a",
    ] {
        assert!(
            bad.parse::<HostPattern>().is_err(),
            "{bad:?} should be refused"
        );
    }
}

/// S-2: any port is stripped, case folded, trailing dot kept, IPv6 brackets kept.
#[test]
fn normalize() {
    assert_eq!(
        normalize_authority("Dev.Example.com:12345"),
        "dev.example.com"
    );
    assert_eq!(normalize_authority("dev.example.com."), "dev.example.com.");
    assert_eq!(normalize_authority("[::1]:443"), "[::1]");
    assert_eq!(normalize_authority("[::1]"), "[::1]");
    // S-2: Envoy's `ignore_port_in_host_matching` cuts at the last `:` outside brackets,
    // whatever follows it.
    assert_eq!(normalize_authority("::1"), ":");
    assert_eq!(normalize_authority("a:b"), "a");
    assert_eq!(normalize_authority("a:"), "a");
    assert_eq!(normalize_authority("A.com:123456"), "a.com");
    assert_eq!(normalize_authority("a.com:80:90"), "a.com:80");
    assert_eq!(normalize_authority("[::1]:abc"), "[::1]");
    assert_eq!(normalize_authority("[::1]x"), "[::1]x");
    assert!(matches!(normalize_authority("a.com:80"), Cow::Borrowed(_)));
}

/// G-9: exact > longest suffix > longest prefix > `*`; the star never matches empty.
#[test]
fn specificity() {
    let mut idx = HostIndex::new();
    for (i, s) in [
        "*",
        "*.com",
        "*.example.com",
        "dev.example.com",
        "foo.*",
        "foo.bar.*",
    ]
    .iter()
    .enumerate()
    {
        idx.insert(&p(s), i).unwrap();
    }
    let pat = |h: &str| idx.lookup_authority(h).map(|m| m.pattern.to_string());
    assert_eq!(pat("dev.example.com").as_deref(), Some("dev.example.com"));
    assert_eq!(pat("a.b.example.com").as_deref(), Some("*.example.com"));
    assert_eq!(pat("example.com").as_deref(), Some("*.com"));
    assert_eq!(pat("foo.bar.org").as_deref(), Some("foo.bar.*"));
    assert_eq!(pat("foo.org").as_deref(), Some("foo.*"));
    assert_eq!(pat("foo.").as_deref(), Some("*"));
    assert_eq!(pat("com").as_deref(), Some("*"));
    assert_eq!(pat(".com").as_deref(), Some("*"));
    assert_eq!(pat("dev.example.com.").as_deref(), Some("*"));
    assert!(idx.insert(&p("*.com"), 9).is_err());
}

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
}
