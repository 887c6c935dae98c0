//! Query-string parameters as Envoy's route matcher reads them (V-15): raw values, no
//! percent-decoding, the first occurrence of a name wins, `?key` has the empty value.

/// The raw value of the first parameter called `name` in `query` (without the `?`), or `None`.
/// Walks the string in place; never allocates.
pub fn first_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::first_param;

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
}
