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
mod tests;
