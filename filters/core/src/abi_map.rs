//! The proxy-wasm ABI's encoding of a header map (request and response headers, local-reply
//! headers, call headers): pure bytes, shared by the filters' host calls and checked here
//! natively. Decoding never trusts the lengths it reads.

/// The ABI's map encoding: a little-endian `u32` count, then each entry's name and value
/// lengths (`u32` each), then each name and value followed by a NUL.
pub fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut size = 4;
    for (name, value) in pairs {
        size += 8 + name.len() + value.len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (name, value) in pairs {
        out.extend_from_slice(&len_u32(name.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(value.len()).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Decodes [`encode`]'s format; `None` when the lengths do not fit the buffer.
pub fn decode(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    if data > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    for n in 0..count {
        let name_len = usize::try_from(read_u32(bytes, 4 + n * 8)?).ok()?;
        let value_len = usize::try_from(read_u32(bytes, 8 + n * 8)?).ok()?;
        let name = bytes.get(data..data.checked_add(name_len)?)?.to_vec();
        data = data.checked_add(name_len)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(value_len)?)?.to_vec();
        data = data.checked_add(value_len)?.checked_add(1)?;
        pairs.push((name, value));
    }
    Some(pairs)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_counts_lengths_then_nul_terminated_bytes() {
        let bytes = encode(&[(":path", "/"), ("a", "")]);
        let expected: Vec<u8> = [
            &[2, 0, 0, 0][..],
            &[5, 0, 0, 0, 1, 0, 0, 0],
            &[1, 0, 0, 0, 0, 0, 0, 0],
            b":path\0/\0",
            b"a\0\0",
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(encode(&[]), vec![0, 0, 0, 0]);
    }

    #[test]
    fn empty_input_is_an_empty_map() {
        assert_eq!(decode(&[]), Some(vec![]));
        assert_eq!(decode(&[0, 0, 0, 0]), Some(vec![]));
    }

    #[test]
    fn lengths_past_the_end_are_refused() {
        // One entry announced, no length table.
        assert_eq!(decode(&[1, 0, 0, 0]), None);
        // A count whose table would not fit in memory.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
        // A name length past the end.
        let mut bytes = encode(&[("name", "value")]);
        bytes[4] = 200;
        assert_eq!(decode(&bytes), None);
        // A value cut short.
        let bytes = encode(&[("name", "value")]);
        assert_eq!(decode(&bytes[..bytes.len() - 3]), None);
    }

    proptest! {
        #[test]
        fn round_trips(pairs in proptest::collection::vec(("[ -~]{0,12}", "[ -~]{0,24}"), 0..8)) {
            let refs: Vec<(&str, &str)> =
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let decoded = decode(&encode(&refs)).unwrap();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .iter()
                .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
                .collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
