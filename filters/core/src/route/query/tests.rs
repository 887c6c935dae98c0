//! Query parameters as Envoy reads them (V-15), by example and by property.

use proptest::prelude::*;

use super::first_param;
use crate::strmatch::ValueMatcher;
use crate::wire::ValueMatch;

/// V-15: raw values, first occurrence, `?key` and `?key=` both give the empty value.
#[test]
fn params() {
    assert_eq!(first_param("a=1&b=2", "b"), Some("2"));
    assert_eq!(first_param("a=1&a=2", "a"), Some("1"));
    assert_eq!(first_param("key", "key"), Some(""));
    assert_eq!(first_param("key=", "key"), Some(""));
    assert_eq!(first_param("k=a%20b", "k"), Some("a%20b"));
    assert_eq!(first_param("k=a=b", "k"), Some("a=b"));
    assert_eq!(first_param("&&K=1", "k"), None);
    assert_eq!(first_param("", "k"), None);
}

proptest! {
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
