//! Matcher semantics (V-10, S-4), by example and by property.

use proptest::prelude::*;

use super::*;
use crate::wire::StringMatch;

fn re(p: &str) -> Regex {
    full_match_regex(p).unwrap()
}

/// Documented divergences from RE2: Unicode classes are refused at compile time (never a
/// silent mismatch) and `(?i)` folds ASCII letters only.
#[test]
fn unicode_classes_are_refused_and_case_folding_is_ascii() {
    assert!(full_match_regex(r"\p{Greek}+").is_err());
    assert!(re(r"(?i)abc").is_match("ABC"));
    assert!(!re(r"(?i)é").is_match("É"));
    assert!(re(r"[\S]").is_match("\u{b}"), "RE2 \\S includes \\v");
}

/// V-10: regexes match the whole value, never a substring.
#[test]
fn regex_is_full_match() {
    let r = re(r"\d+");
    assert!(r.is_match("123"));
    assert!(!r.is_match("a123"));
    assert!(!r.is_match("123a"));
    // Alternation is wrapped, so each branch is anchored.
    let r = re("a|b");
    assert!(r.is_match("a") && r.is_match("b") && !r.is_match("ab"));
}

/// RE2's Perl classes are ASCII: `\d` does not match an Arabic-Indic digit, `\w` not `é`.
#[test]
fn perl_classes_are_ascii() {
    assert!(!re(r"\d").is_match("٣"));
    assert!(re(r"\D").is_match("٣"));
    assert!(!re(r"\w").is_match("é"));
    assert!(re(r"\W").is_match("é"));
    assert!(!re(r"\s").is_match("\u{a0}"));
    assert!(!re(r"\s").is_match("\u{b}"), "RE2 \\s excludes \\v");
    assert!(re(r"\s").is_match("\u{c}"));
    assert!(re(r"[\d]+").is_match("42"));
    assert!(!re(r"[\d]").is_match("٣"));
    assert!(!re(r"[\w-]+").is_match("é"));
    assert!(re(r"[\w-]+").is_match("a-b_1"));
    assert!(re(r"[^\d]").is_match("٣"));
    assert!(re(r"[\D]").is_match("x") && !re(r"[\D]").is_match("7"));
    // `\b` is an ASCII word boundary: `é` is not a word character.
    assert!(re(r".*\bx").is_match("éx"));
    assert!(!re(r".*\Bx").is_match("éx"));
}

/// An escaped backslash is not the start of a class escape.
#[test]
fn escaped_backslash() {
    assert!(re(r"\\d").is_match(r"\d"));
    assert!(!re(r"\\d").is_match("1"));
    assert!(re(r"[\\d]").is_match("d"));
}

/// RE2 treats `[` and `&&` inside a class literally.
#[test]
fn class_literals() {
    assert!(re(r"[[]").is_match("["));
    assert!(re(r"[a&&b]+").is_match("a&b"));
    assert!(re(r"[]a]+").is_match("]a"));
    assert!(re(r"[[:alpha:]]+").is_match("abc"));
    assert!(!re(r"[[:alpha:]]").is_match("é"));
}

/// S-4: long patterns, the `*` presence form and the `x` flag are refused.
#[test]
fn refused_patterns() {
    assert!(full_match_regex(&"a".repeat(1025)).is_err());
    assert!(full_match_regex(&"a".repeat(1024)).is_ok());
    let e = full_match_regex("*").unwrap_err();
    assert!(e.0.contains("presence"), "{e}");
    assert!(full_match_regex("(?x)a b").is_err());
    assert!(full_match_regex("(?i)a").is_ok());
    assert!(full_match_regex(r"abc\").is_err());
    assert!(
        full_match_regex(r"(?i)\pL{1000}{1000}").is_err(),
        "size limit"
    );
}

/// S-4: the program-size bound refuses the patterns that keep hundreds of Pike VM threads alive
/// over a long input (seconds per request), and still takes the longest literal and
/// alternation Istio's 1,024-byte limit allows.
#[test]
fn costly_repetitions_are_refused() {
    for costly in [
        r"(?:a*){600}",
        r"(?:.*a){400}",
        r".{0,1000}",
        r"(?:a*|b){300}",
    ] {
        assert!(full_match_regex(costly).is_err(), "{costly}");
    }
    let mut alternation = String::from("(?:");
    let mut i = 0;
    while alternation.len() < 1000 {
        alternation.push_str(&format!("/svc{i}/api|"));
        i += 1;
    }
    alternation.pop();
    alternation.push(')');
    assert!(full_match_regex(&alternation).is_ok());
    assert!(full_match_regex(&"/api/v1/users".repeat(78)).is_ok());
}

/// V-11: `ignoreUriCase` folds ASCII for exact and prefix.
#[test]
fn ignore_case() {
    let m = StrMatcher::compile(&StringMatch::Prefix("/API".into()), true).unwrap();
    assert!(m.matches("/api/x") && m.matches("/Api") && !m.matches("/ap"));
    let m = StrMatcher::compile(&StringMatch::Exact("/a".into()), true).unwrap();
    assert!(m.matches("/A") && !m.matches("/ab"));
    // Multi-byte input shorter than the prefix or split inside a char never panics.
    let m = StrMatcher::compile(&StringMatch::Prefix("/éa".into()), true).unwrap();
    assert!(!m.matches("/é") && m.matches("/éA"));
}

/// V-21: `\1` becomes `${1}`, `$` stays literal, unknown groups are refused.
#[test]
fn substitution() {
    assert_eq!(
        translate_substitution(r"/x/\2/\1$", 3).unwrap(),
        "/x/${2}/${1}$$"
    );
    assert!(translate_substitution(r"\3", 3).is_err());
    assert!(translate_substitution(r"\q", 3).is_err());
    assert_eq!(translate_substitution(r"\\", 1).unwrap(), "\\");
}

proptest! {
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
}
