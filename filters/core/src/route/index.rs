//! An index over a virtual host's path conditions, so route selection does not grow with the
//! number of routes while keeping Istio's first match in declaration order (V-5) exactly.
//!
//! The index is conservative: for a path it yields every route whose `uri` condition could
//! hold (routes with an exact path equal to it, with a literal prefix it starts with, and every
//! route whose path condition is a regex or absent), in ascending declaration order; the full
//! match then runs on those candidates only. Every route that matches the request is a
//! candidate, so the first candidate that matches is the first route that matches.
//!
//! A regex condition that begins with literal text (`/api/v[0-9]+/.*` begins with `/api/v`) is
//! indexed as that prefix: every path the regex matches in full starts with it.
//!
//! Exact paths are looked up in a hash map. Literal prefixes are looked up by length: one map
//! lookup per distinct prefix length, so the cost follows how many lengths there are, not how
//! many prefixes. `ignoreUriCase` conditions are keyed and looked up ASCII-lowercased, as
//! their matchers compare.

use std::collections::HashMap;

use crate::strmatch::StrMatcher;

use super::CompiledRoute;

/// Virtual hosts with at most this many routes are scanned in order: for a handful of routes
/// the scan costs less than the lookups.
pub const LINEAR_UP_TO: usize = 8;

/// Literal prefixes by length.
#[derive(Clone, Debug, Default)]
struct Prefixes {
    by_prefix: HashMap<Box<[u8]>, Vec<u32>>,
    /// The distinct lengths in `by_prefix`, ascending.
    lengths: Vec<usize>,
}

impl Prefixes {
    fn insert(&mut self, prefix: &[u8], route: u32) {
        self.by_prefix.entry(prefix.into()).or_default().push(route);
        if let Err(at) = self.lengths.binary_search(&prefix.len()) {
            self.lengths.insert(at, prefix.len());
        }
    }

    fn candidates(&self, path: &[u8], out: &mut Vec<u32>) {
        for &length in &self.lengths {
            let Some(head) = path.get(..length) else {
                break;
            };
            if let Some(routes) = self.by_prefix.get(head) {
                out.extend_from_slice(routes);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

/// The literal text every string that `pattern` (RE2 syntax, matched in full) matches starts
/// with; `None` when there is none. Conservative: it stops at the first character that is not
/// a plain literal, drops a literal that a quantifier makes optional (`ab*`, `ab?`, `ab{0,1}`),
/// and gives up on a pattern with a top-level alternation (`a|b`) or that starts with a group,
/// a class, an escape or flags. A shorter prefix only means more candidates, never a wrong one.
pub fn literal_prefix(pattern: &str) -> Option<Box<str>> {
    if has_top_level_alternation(pattern) {
        return None;
    }
    let mut prefix = String::new();
    for c in pattern.chars() {
        match c {
            '*' | '?' | '{' => {
                prefix.pop();
                break;
            }
            '\\' | '.' | '[' | ']' | '(' | ')' | '|' | '+' | '}' | '^' | '$' => break,
            literal => prefix.push(literal),
        }
    }
    (!prefix.is_empty()).then(|| prefix.into_boxed_str())
}

/// True when `pattern` has a `|` outside every group and class.
fn has_top_level_alternation(pattern: &str) -> bool {
    let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
    let mut class_start = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
            class_start = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ']' if in_class && !class_start => in_class = false,
            '^' if class_start => continue,
            _ if in_class => {}
            '[' => {
                in_class = true;
                class_start = true;
                continue;
            }
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return true,
            _ => {}
        }
        class_start = false;
    }
    false
}

/// One virtual host's path index; route numbers are offsets in the vhost's route list.
#[derive(Clone, Debug, Default)]
pub struct PathIndex {
    exact: HashMap<Box<str>, Vec<u32>>,
    exact_ignore_case: HashMap<Box<str>, Vec<u32>>,
    prefixes: Prefixes,
    prefixes_ignore_case: Prefixes,
    /// Routes the index cannot rule out by path: regex or no path condition.
    always: Vec<u32>,
}

impl PathIndex {
    /// The index of `routes` (one virtual host's, in declaration order).
    pub fn new(routes: &[CompiledRoute]) -> Self {
        let mut index = PathIndex::default();
        for (offset, route) in routes.iter().enumerate() {
            let offset = u32::try_from(offset).unwrap_or(u32::MAX);
            match route.matcher().uri() {
                Some(StrMatcher::Exact(path)) => {
                    index.exact.entry(path.clone()).or_default().push(offset);
                }
                Some(StrMatcher::ExactIgnoreCase(path)) => index
                    .exact_ignore_case
                    .entry(path.to_ascii_lowercase().into())
                    .or_default()
                    .push(offset),
                Some(StrMatcher::Prefix(prefix)) => {
                    index.prefixes.insert(prefix.as_bytes(), offset)
                }
                Some(StrMatcher::PrefixIgnoreCase(prefix)) => index
                    .prefixes_ignore_case
                    .insert(prefix.to_ascii_lowercase().as_bytes(), offset),
                Some(StrMatcher::Regex(_)) => match route.matcher().uri_literal_prefix() {
                    Some(prefix) => index.prefixes.insert(prefix.as_bytes(), offset),
                    None => index.always.push(offset),
                },
                None => index.always.push(offset),
            }
        }
        index
    }

    /// The routes whose path condition may hold for `path`, ascending, each once.
    pub fn candidates(&self, path: &str, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        if let Some(routes) = self.exact.get(path) {
            out.extend_from_slice(routes);
        }
        self.prefixes.candidates(path.as_bytes(), out);
        if !self.exact_ignore_case.is_empty() || !self.prefixes_ignore_case.is_empty() {
            let lower = path.to_ascii_lowercase();
            if let Some(routes) = self.exact_ignore_case.get(lower.as_str()) {
                out.extend_from_slice(routes);
            }
            self.prefixes_ignore_case.candidates(lower.as_bytes(), out);
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use proptest::prelude::*;

    use super::*;
    use crate::RequestView;
    use crate::route::RouteInput;
    use crate::wire::{Action, Destination, Forward, Route, RouteMatch, StringMatch};

    /// A route's path condition, over a small alphabet so that paths collide often.
    #[derive(Clone, Debug)]
    enum Uri {
        None,
        Exact(String),
        Prefix(String),
        Regex(String),
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(prop_oneof!["/", "a", "A", "b", "é"], 0..4)
            .prop_map(|parts| parts.concat())
    }

    fn uri() -> impl Strategy<Value = Uri> {
        prop_oneof![
            Just(Uri::None),
            text().prop_map(Uri::Exact),
            text().prop_map(Uri::Prefix),
            (text(), text(), 0..7usize).prop_map(|(a, b, shape)| {
                // The alphabet has no regex metacharacter: the texts are literals as they are.
                Uri::Regex(match shape {
                    0 => format!("{a}.*"),
                    1 => format!("{a}b*{b}"),
                    2 => format!("{a}b?.*"),
                    3 => format!("{a}|{b}.*"),
                    4 => format!("(?i){a}.*"),
                    5 => format!("{a}[/a]+{b}"),
                    _ => format!("{a}a{{0,2}}(b|/){b}.*"),
                })
            }),
        ]
    }

    /// (path condition, ignoreUriCase, GET only)
    fn route_spec() -> impl Strategy<Value = (Uri, bool, bool)> {
        (uri(), any::<bool>(), any::<bool>())
    }

    fn compile(specs: &[(Uri, bool, bool)]) -> Vec<CompiledRoute> {
        specs
            .iter()
            .enumerate()
            .map(|(i, (uri, ignore_case, get_only))| {
                let uri = match uri {
                    Uri::None => None,
                    Uri::Exact(s) => Some(StringMatch::Exact(s.clone())),
                    Uri::Prefix(s) => Some(StringMatch::Prefix(s.clone())),
                    Uri::Regex(s) => Some(StringMatch::Regex(s.clone())),
                };
                let route = Route {
                    name: format!("r{i}"),
                    virtual_service: "ns/vs".into(),
                    matcher: RouteMatch {
                        uri,
                        ignore_uri_case: *ignore_case,
                        method: get_only.then(|| StringMatch::Exact("GET".into())),
                        ..RouteMatch::default()
                    },
                    action: Action::Route(Forward {
                        destinations: vec![Destination {
                            cluster: "c".into(),
                            weight: 100,
                            headers: Default::default(),
                            authority: None,
                        }],
                        rewrite: None,
                    }),
                    headers: Default::default(),
                    fault: None,
                    mirrors: Vec::new(),
                    timeout_ms: None,
                    retries: None,
                    cors: None,
                };
                CompiledRoute::compile(&route, &format!("routes[{i}]")).unwrap()
            })
            .collect()
    }

    fn first_match(
        routes: &[CompiledRoute],
        index: Option<&PathIndex>,
        path: &str,
        method: &str,
    ) -> Option<usize> {
        let headers: Vec<(String, String)> = Vec::new();
        let input = RouteInput {
            req: RequestView {
                bind_port: 80,
                authority: "a.example.com",
                path,
                method,
                scheme: "http",
                tls: false,
                sni: None,
                filter_chain: None,
                headers: &headers,
            },
            path,
            query: "",
            listener_port: 80,
        };
        match index {
            None => routes.iter().position(|r| r.matches(&input)),
            Some(index) => {
                let mut candidates = Vec::new();
                index.candidates(path, &mut candidates);
                candidates
                    .into_iter()
                    .map(|c| c as usize)
                    .find(|&c| routes[c].matches(&input))
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The indexed and the linear matcher choose the same route for every request.
        #[test]
        fn the_index_chooses_what_the_linear_scan_chooses(
            specs in proptest::collection::vec(route_spec(), 0..24),
            path in text(),
            get in any::<bool>(),
        ) {
            let routes = compile(&specs);
            let index = PathIndex::new(&routes);
            let method = if get { "GET" } else { "POST" };
            prop_assert_eq!(
                first_match(&routes, Some(&index), &path, method),
                first_match(&routes, None, &path, method)
            );
        }

        /// Candidates come ascending and once each, whatever the index holds.
        #[test]
        fn candidates_are_ascending_and_unique(
            specs in proptest::collection::vec(route_spec(), 0..24),
            path in text(),
        ) {
            let index = PathIndex::new(&compile(&specs));
            let mut candidates = Vec::new();
            index.candidates(&path, &mut candidates);
            prop_assert!(candidates.windows(2).all(|w| w[0] < w[1]), "{:?}", candidates);
        }
    }

    #[test]
    fn literal_prefixes_of_regexes() {
        let cases = [
            ("/api/v[0-9]+/.*", Some("/api/v")),
            ("/a/b.*", Some("/a/b")),
            ("/ab*", Some("/a")),
            ("/ab?c", Some("/a")),
            ("/ab+c", Some("/ab")),
            ("/ab{0,2}", Some("/a")),
            ("/a|/b", None),
            ("(/a|/b)/c", None),
            ("/x(a|b)", Some("/x")),
            ("/x[|]y", Some("/x")),
            ("/x[]|]y", Some("/x")),
            ("/x\\|y", Some("/x")),
            ("(?i)/a", None),
            ("\\d+", None),
            (".*", None),
            ("^/a", None),
            ("/é.*", Some("/é")),
        ];
        for (pattern, prefix) in cases {
            assert_eq!(literal_prefix(pattern).as_deref(), prefix, "{pattern}");
        }
    }

    /// Only routes whose path condition could hold are candidates.
    #[test]
    fn the_index_rules_routes_out_by_path() {
        let specs: Vec<(Uri, bool, bool)> = (0..100)
            .map(|i| (Uri::Prefix(format!("/r{i}/")), false, false))
            .chain([(Uri::Exact("/R7/x".into()), true, false)])
            .collect();
        let index = PathIndex::new(&compile(&specs));
        let mut candidates = Vec::new();
        index.candidates("/r7/x", &mut candidates);
        assert_eq!(candidates, [7, 100]);
        index.candidates("/nothing", &mut candidates);
        assert!(candidates.is_empty());
    }
}
