//! Compiled string matchers: Istio's `StringMatch` (V-10) and the header/query `ValueMatch`
//! (V-13 … V-15), with RE2 regex semantics on top of the `regex-lite` crate (linear time like
//! RE2, and a fraction of `regex`'s size in the `.wasm`).
//!
//! Deliberate, documented divergences from RE2: `(?i)` folds ASCII letters only, and Unicode
//! classes (`\p{..}`) are refused at compile time (a clear config error, never a silent
//! mismatch). Other differences that matter here, and how they are bridged:
//! - RE2 regexes used by Envoy must match the **whole** value: every pattern is compiled as
//!   `\A(?:pattern)\z`.
//! - RE2's Perl classes (`\d \w \s \b` and their negations) are ASCII-only, Rust's are Unicode:
//!   [`translate_re2`] rewrites them to explicit ASCII classes, so `\d` never matches `٣`.
//! - RE2 has no `x` (verbose) flag; Rust does. A pattern using it is refused, since RE2 (and so
//!   Istio's validation) would refuse it too.
//! - Inside a bracket class RE2 treats `[`, `&&` and `~~` literally, Rust as nested classes and
//!   set operations: those characters are escaped.
//!
//! Case-insensitive `exact`/`prefix` (`ignoreUriCase`, V-11) fold ASCII only, as Envoy's
//! `ignore_case` does.

use std::fmt;

use regex_lite::{Regex, RegexBuilder};

use crate::wire::{StringMatch, ValueMatch};

/// Longest regex accepted, in bytes (Istio validation, S-4).
pub(crate) const MAX_REGEX_LEN: usize = 1024;

/// Upper bound on a compiled regex program, in bytes of `regex-lite`'s program (S-4).
///
/// This is the request-path cost bound. `regex-lite` runs a Pike VM (no DFA), so matching costs
/// (input bytes) × (threads alive), and the threads alive are bounded by the program's size: a
/// pattern such as `(?:a*){k}` keeps `k` of them alive over the whole input. RE2, which Istio
/// bounds by program size (`re2.max_program_size`), answers such patterns from its DFA in
/// linear time; here the bound itself must be tight. 40 KiB still holds every literal pattern
/// or alternation of the longest length Istio's validation allows (1,024 bytes need 32.2 KiB)
/// and refuses the costliest repetitions; `benches/regex.rs` measures the worst case allowed
/// against the largest path and header Envoy accepts (BENCHMARKS.md).
pub const REGEX_SIZE_LIMIT: usize = 40 * 1024;

/// Why a regex was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexError(pub String);

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegexError {}

/// A compiled `StringMatch` (V-10, V-11).
#[derive(Clone, Debug)]
pub(crate) enum StrMatcher {
    /// Byte equality.
    Exact(Box<str>),
    /// Plain string prefix.
    Prefix(Box<str>),
    /// ASCII case-insensitive equality (`ignoreUriCase`).
    ExactIgnoreCase(Box<str>),
    /// ASCII case-insensitive prefix (`ignoreUriCase`).
    PrefixIgnoreCase(Box<str>),
    /// Full-string RE2 regex.
    Regex(Box<Regex>),
}

impl StrMatcher {
    /// Compiles a wire `StringMatch`. `ignore_case` applies to exact and prefix only (V-11).
    pub fn compile(m: &StringMatch, ignore_case: bool) -> Result<Self, RegexError> {
        Ok(match (m, ignore_case) {
            (StringMatch::Exact(s), false) => StrMatcher::Exact(s.as_str().into()),
            (StringMatch::Prefix(s), false) => StrMatcher::Prefix(s.as_str().into()),
            (StringMatch::Exact(s), true) => StrMatcher::ExactIgnoreCase(s.as_str().into()),
            (StringMatch::Prefix(s), true) => StrMatcher::PrefixIgnoreCase(s.as_str().into()),
            (StringMatch::Regex(r), _) => StrMatcher::Regex(Box::new(full_match_regex(r)?)),
        })
    }

    /// True when `value` satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StrMatcher::Exact(s) => value == &**s,
            StrMatcher::Prefix(p) => value.starts_with(&**p),
            StrMatcher::ExactIgnoreCase(s) => value.eq_ignore_ascii_case(s),
            StrMatcher::PrefixIgnoreCase(p) => value
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())),
            StrMatcher::Regex(re) => re.is_match(value),
        }
    }
}

/// A compiled header or query-parameter condition (V-13 … V-15).
#[derive(Clone, Debug)]
pub(crate) enum ValueMatcher {
    /// A value condition; an absent header or parameter never satisfies it.
    Value(StrMatcher),
    /// Presence: `Present(true)` holds when present, `Present(false)` when absent.
    Present(bool),
}

impl ValueMatcher {
    /// Compiles a wire `ValueMatch`.
    pub fn compile(m: &ValueMatch) -> Result<Self, RegexError> {
        let s = match m {
            ValueMatch::Present(p) => return Ok(ValueMatcher::Present(*p)),
            ValueMatch::Exact(s) => StringMatch::Exact(s.clone()),
            ValueMatch::Prefix(s) => StringMatch::Prefix(s.clone()),
            ValueMatch::Regex(s) => StringMatch::Regex(s.clone()),
        };
        Ok(ValueMatcher::Value(StrMatcher::compile(&s, false)?))
    }

    /// Evaluates the condition against a value that may be absent.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match self {
            ValueMatcher::Present(p) => value.is_some() == *p,
            ValueMatcher::Value(m) => value.is_some_and(|v| m.matches(v)),
        }
    }

    /// Evaluates the inverted condition of `withoutHeaders` (V-14): Envoy's `invert_match` with
    /// `treat_missing_header_as_empty`, except that the presence form is only inverted.
    pub fn matches_inverted(&self, value: Option<&str>) -> bool {
        match self {
            ValueMatcher::Present(p) => value.is_some() != *p,
            ValueMatcher::Value(m) => !m.matches(value.unwrap_or("")),
        }
    }
}

/// Compiles an RE2 pattern that must match the whole input (Envoy `safe_regex`, V-10).
pub fn full_match_regex(pattern: &str) -> Result<Regex, RegexError> {
    let translated = translate_re2(pattern)?;
    build(&format!(r"\A(?:{translated})\z"))
}

/// Compiles an RE2 pattern used for searching (`uriRegexRewrite`, V-21): not anchored.
pub(crate) fn search_regex(pattern: &str) -> Result<Regex, RegexError> {
    build(&translate_re2(pattern)?)
}

fn build(pattern: &str) -> Result<Regex, RegexError> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RegexError(e.to_string()))
}

/// Rewrites an RE2 pattern into an equivalent pattern for Rust's `regex` crate (see the module
/// documentation for what differs). Refuses patterns longer than [`MAX_REGEX_LEN`] (S-4) and
/// the non-RE2 `*` that Istio uses for presence.
pub(crate) fn translate_re2(pattern: &str) -> Result<String, RegexError> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(RegexError(format!(
            "regex is {} bytes long, the limit is {MAX_REGEX_LEN}",
            pattern.len()
        )));
    }
    if pattern == "*" {
        return Err(RegexError(
            "`*` is not RE2; the compiler turns `regex: \"*\"` into a presence match".into(),
        ));
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Inside a bracket class, and whether the class has content yet (a `]` right after `[` or
    // `[^` is a literal in RE2).
    let mut in_class = false;
    let mut class_empty = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err(RegexError("trailing backslash".into()));
                };
                match ascii_class(e, in_class) {
                    Some(class) => out.push_str(class),
                    // Not a Perl class: keep the escape as written (`\\`, `\.`, `\pL` …).
                    None => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                class_empty = false;
            }
            '[' if !in_class => {
                in_class = true;
                class_empty = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]` (ASCII in both engines): copy through `:]`.
                out.push('[');
                let mut prev = '[';
                for p in chars.by_ref() {
                    out.push(p);
                    if prev == ':' && p == ']' {
                        break;
                    }
                    prev = p;
                }
                class_empty = false;
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
                class_empty = false;
            }
            ']' if in_class && !class_empty => {
                in_class = false;
                out.push(']');
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                out.push('(');
                check_flags(chars.clone())?;
            }
            _ => {
                out.push(c);
                class_empty = false;
            }
        }
    }
    Ok(out)
}

/// RE2's ASCII meaning of a Perl class escape, in the syntax valid at the current position.
fn ascii_class(e: char, in_class: bool) -> Option<&'static str> {
    Some(match (e, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => r"[\t\n\f\r ]",
        ('S', false) => r"[^\t\n\f\r ]",
        // regex-lite's word boundaries are ASCII, like RE2's.
        ('b', false) => r"\b",
        ('B', false) => r"\B",
        ('d', true) => "0-9",
        ('w', true) => "0-9A-Za-z_",
        ('s', true) => r"\t\n\f\r ",
        // regex-lite has no nested classes, but its negated Perl classes are ASCII already.
        // Its `\S` excludes `\v`, which RE2's includes: add it back.
        ('D', true) => r"\D",
        ('W', true) => r"\W",
        ('S', true) => r"\S\x0B",
        _ => return None,
    })
}

/// Refuses the verbose flag `x`, which RE2 lacks. `rest` starts at the `?` of `(?`.
fn check_flags(mut rest: impl Iterator<Item = char>) -> Result<(), RegexError> {
    rest.next();
    for c in rest {
        match c {
            'x' => return Err(RegexError("the `x` flag is not supported by RE2".into())),
            'i' | 'm' | 's' | 'U' | '-' => {}
            _ => break,
        }
    }
    Ok(())
}

/// Converts an RE2/Envoy substitution (`\1`, `\\`) into Rust's replacement syntax (`${1}`,
/// `$$`). Refuses references to groups the pattern does not have, as RE2 does.
pub(crate) fn translate_substitution(sub: &str, groups: usize) -> Result<String, RegexError> {
    let mut out = String::with_capacity(sub.len() + 8);
    let mut chars = sub.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some(d @ '0'..='9') => {
                    let n = d as usize - '0' as usize;
                    if n >= groups {
                        return Err(RegexError(format!(
                            "substitution references group {n}, the pattern has {}",
                            groups.saturating_sub(1)
                        )));
                    }
                    out.push_str("${");
                    out.push(d);
                    out.push('}');
                }
                _ => return Err(RegexError("invalid escape in substitution".into())),
            },
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
