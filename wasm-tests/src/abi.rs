//! ABI v0.2.1 constants and the header-map wire format (cpp-host `PairsUtil`).

/// `proxy_status_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    Unimplemented = 12,
}

impl Status {
    /// The numeric code seen by the guest.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// `proxy_buffer_type_t`.
pub mod buffer {
    pub const HTTP_REQUEST_BODY: u32 = 0;
    pub const HTTP_RESPONSE_BODY: u32 = 1;
    pub const DOWNSTREAM_DATA: u32 = 2;
    pub const UPSTREAM_DATA: u32 = 3;
    pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
    pub const GRPC_RECEIVE_BUFFER: u32 = 5;
    pub const VM_CONFIGURATION: u32 = 6;
    pub const PLUGIN_CONFIGURATION: u32 = 7;
    pub const CALL_DATA: u32 = 8;
    pub const MAX: u32 = 8;
}

/// `proxy_map_type_t`.
pub mod map {
    pub const REQUEST_HEADERS: u32 = 0;
    pub const REQUEST_TRAILERS: u32 = 1;
    pub const RESPONSE_HEADERS: u32 = 2;
    pub const RESPONSE_TRAILERS: u32 = 3;
    pub const GRPC_INITIAL_METADATA: u32 = 4;
    pub const GRPC_TRAILING_METADATA: u32 = 5;
    pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
    pub const HTTP_CALL_RESPONSE_TRAILERS: u32 = 7;
}

/// `proxy_stream_type_t`.
pub mod stream {
    pub const HTTP_REQUEST: u32 = 0;
    pub const HTTP_RESPONSE: u32 = 1;
    pub const DOWNSTREAM: u32 = 2;
    pub const UPSTREAM: u32 = 3;
}

/// `proxy_metric_type_t`.
pub mod metric {
    pub const COUNTER: u32 = 0;
    pub const GAUGE: u32 = 1;
    pub const HISTOGRAM: u32 = 2;
}

/// cpp-host `limits.h`: a serialized map holds at most this many pairs and bytes.
pub const MAX_MAP_PAIRS: usize = 1024;
/// cpp-host `limits.h`: maximum size of a serialized header map.
pub const MAX_MAP_BYTES: usize = 1 << 20;
/// cpp-host `limits.h`: `random_get` serves at most this many bytes per call.
pub const MAX_RANDOM_BYTES: usize = 64 << 10;
/// cpp-host default guest memory cap.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Log levels (`proxy_log_level_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    /// Level from the guest's numeric code; unknown codes are `None`.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Critical,
            _ => return None,
        })
    }
}

/// First of the 256 private-use chars that stand for one raw byte in a header value (see
/// [`raw_value`]): Envoy header values are bytes, not necessarily UTF-8, while the host keeps
/// them as `String`s.
pub const RAW_BYTE_BASE: u32 = 0xF700;

/// Encodes arbitrary bytes as a header value the host can store: ASCII as is, every other
/// byte as `RAW_BYTE_BASE + byte`. [`value_bytes`] turns it back into the raw bytes.
pub fn raw_value(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0..=0x7f => char::from(b),
            _ => char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or('\u{fffd}'),
        })
        .collect()
}

/// The bytes the guest sees for a stored header value: raw-byte chars become their byte.
pub fn value_bytes(v: &str) -> std::borrow::Cow<'_, [u8]> {
    let raw = |c: char| (RAW_BYTE_BASE..RAW_BYTE_BASE + 256).contains(&u32::from(c));
    if !v.chars().any(raw) {
        return std::borrow::Cow::Borrowed(v.as_bytes());
    }
    let mut out = Vec::with_capacity(v.len());
    for c in v.chars() {
        match u8::try_from(u32::from(c).wrapping_sub(RAW_BYTE_BASE)) {
            Ok(b) if raw(c) => out.push(b),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Serializes pairs the way cpp-host does; an empty map is zero bytes, never `[0]`.
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let pairs: Vec<(&String, std::borrow::Cow<'_, [u8]>)> =
        pairs.iter().map(|(k, v)| (k, value_bytes(v))).collect();
    let mut size = 4;
    for (k, v) in &pairs {
        size += 8 + k.len() + 1 + v.len() + 1;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in &pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in &pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Parses a serialized map; `None` on malformed input (cpp-host returns an empty map then).
pub fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0)?;
    if count > MAX_MAP_PAIRS {
        return None;
    }
    let mut sizes = Vec::with_capacity(count);
    for i in 0..count {
        sizes.push((word(4 + i * 8)?, word(8 + i * 8)?));
    }
    let mut at = 4 + count * 8;
    let mut out = Vec::with_capacity(count);
    for (klen, vlen) in sizes {
        let k = bytes.get(at..at + klen)?;
        at += klen + 1;
        let v = bytes.get(at..at + vlen)?;
        at += vlen + 1;
        if at > bytes.len() {
            return None;
        }
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round trip through the cpp-host layout, and the empty map is empty bytes.
    #[test]
    fn pairs_round_trip() {
        let pairs = vec![("a".to_string(), "1".to_string()), ("bb".into(), "".into())];
        let bytes = serialize_pairs(&pairs);
        assert_eq!(&bytes[0..4], &2u32.to_le_bytes());
        assert_eq!(deserialize_pairs(&bytes), Some(pairs));
        assert!(serialize_pairs(&[]).is_empty());
    }

    /// Non-UTF-8 bytes stored with `raw_value` reach the guest as the raw bytes.
    #[test]
    fn raw_header_bytes_round_trip() {
        let raw = [b'a', 0xff, 0xc3, b'z', 0x80];
        let stored = raw_value(&raw);
        assert_eq!(&*value_bytes(&stored), &raw);
        assert_eq!(&*value_bytes("plain é"), "plain é".as_bytes());
        let bytes = serialize_pairs(&[("k".into(), stored)]);
        assert_eq!(&bytes[14..19], &raw);
    }
}
