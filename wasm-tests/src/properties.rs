//! Envoy properties: NUL-separated paths, Envoy value encodings, a gateway preset.

use std::collections::BTreeMap;

use crate::state::{HttpState, VmData};

/// A property value in Envoy's wire encoding (`context.cc serializeValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyValue(pub Vec<u8>);

impl PropertyValue {
    /// Strings and bytes are raw.
    pub fn string(s: impl AsRef<str>) -> Self {
        Self(s.as_ref().as_bytes().to_vec())
    }
    /// int64/uint64 are 8 bytes little-endian.
    pub fn int(v: i64) -> Self {
        Self(v.to_le_bytes().to_vec())
    }
    /// Booleans are one byte.
    pub fn bool(v: bool) -> Self {
        Self(vec![v as u8])
    }
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Self(b.into())
    }
}

impl From<&str> for PropertyValue {
    fn from(s: &str) -> Self {
        Self::string(s)
    }
}
impl From<String> for PropertyValue {
    fn from(s: String) -> Self {
        Self::string(s)
    }
}
impl From<i64> for PropertyValue {
    fn from(v: i64) -> Self {
        Self::int(v)
    }
}
impl From<bool> for PropertyValue {
    fn from(v: bool) -> Self {
        Self::bool(v)
    }
}

/// Decodes an 8-byte little-endian integer property.
pub fn decode_int(bytes: &[u8]) -> Option<i64> {
    let b: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(b))
}

/// A dotted test-facing path (`source.address`) as the internal NUL-joined key.
/// `xds.` paths keep their dot inside the first segment only when written so by Envoy;
/// Envoy exposes them as `xds` + `cluster_name`, which is what splitting gives.
pub fn key_from_dotted(path: &str) -> String {
    path.split('.').collect::<Vec<_>>().join("\0")
}

/// The guest's NUL-separated path; a trailing NUL is tolerated.
pub(crate) fn key_from_wire(path: &[u8]) -> String {
    let s = String::from_utf8_lossy(path);
    s.trim_end_matches('\0').to_string()
}

/// The Envoy-gateway preset: what an Istio ingress gateway would report for a plain request.
pub fn gateway_preset() -> BTreeMap<String, PropertyValue> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: PropertyValue| {
        m.insert(key_from_dotted(k), v);
    };
    put("source.address", "10.0.0.7:51234".into());
    put("source.port", PropertyValue::int(51234));
    put("destination.address", "10.0.0.2:8443".into());
    put("destination.port", PropertyValue::int(8443));
    put("request.protocol", "HTTP/1.1".into());
    put("request.id", "8e2f0c1a-5d4b-4c3e-9f7a-0b1c2d3e4f50".into());
    put("connection.requested_server_name", "".into());
    put("connection.uri_san_peer_certificate", "".into());
    put("connection.mtls", PropertyValue::bool(false));
    put("connection.tls_version", "".into());
    put("upstream.address", "10.0.1.9:8080".into());
    put("upstream.port", PropertyValue::int(8080));
    put("route_name", "default".into());
    put("listener_direction", PropertyValue::int(1));
    put(
        "node.id",
        "router~10.0.0.2~portcullis-gateway.istio-system~cluster.local".into(),
    );
    put("node.cluster", "portcullis-gateway.istio-system".into());
    m
}

fn dynamic_http(s: &HttpState, key: &str) -> Option<Vec<u8>> {
    let req = &s.request;
    let header = |h: &[(String, String)], name: &str| {
        h.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_bytes().to_vec())
    };
    let rq = |name: &str| header(&req.headers, name);
    let headers_size =
        |h: &[(String, String)]| h.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let segs: Vec<&str> = key.split('\0').collect();
    match segs.as_slice() {
        ["request", "path"] => rq(":path"),
        ["request", "url_path"] => rq(":path").map(|p| {
            let p = String::from_utf8_lossy(&p).into_owned();
            p.split('?').next().unwrap_or_default().as_bytes().to_vec()
        }),
        ["request", "host"] => rq(":authority"),
        ["request", "scheme"] => rq(":scheme"),
        ["request", "method"] => rq(":method"),
        ["request", "referer"] => rq("referer"),
        ["request", "useragent"] => rq("user-agent"),
        ["request", "id"] => rq("x-request-id"),
        ["request", "headers", name] => rq(name),
        ["request", "size"] if req.headers_received => {
            Some((req.forwarded_body.len() as i64).to_le_bytes().to_vec())
        }
        ["request", "total_size"] if req.headers_received => Some(
            ((headers_size(&req.headers) + req.forwarded_body.len()) as i64)
                .to_le_bytes()
                .to_vec(),
        ),
        ["response", "code"] => header(&s.response.headers, ":status")
            .and_then(|v| String::from_utf8_lossy(&v).parse::<i64>().ok())
            .map(|c| c.to_le_bytes().to_vec()),
        ["response", "headers", name] => header(&s.response.headers, name),
        ["response", "size"] if s.response.headers_received => Some(
            (s.response.forwarded_body.len() as i64)
                .to_le_bytes()
                .to_vec(),
        ),
        ["response", "total_size"] if s.response.headers_received => Some(
            ((headers_size(&s.response.headers) + s.response.forwarded_body.len()) as i64)
                .to_le_bytes()
                .to_vec(),
        ),
        _ => None,
    }
}

/// Property lookup for the active context: values set by the guest or the test on this
/// context, then values derived from the stream, then the plugin's identity, then the table.
pub(crate) fn lookup(d: &VmData, key: &str) -> Option<Vec<u8>> {
    if let Some(s) = d.http.get(&d.active) {
        if let Some(v) = s.properties.get(key) {
            return Some(v.clone());
        }
        if let Some(v) = dynamic_http(s, key) {
            return Some(v);
        }
    }
    if let Some(v) = d.tcp.get(&d.active).and_then(|t| t.properties.get(key)) {
        return Some(v.clone());
    }
    if let Some(v) = d.root_properties.get(key) {
        return Some(v.clone());
    }
    match key {
        "plugin_name" => return Some(d.plugin_name.as_bytes().to_vec()),
        "plugin_root_id" => return Some(d.root_id.as_bytes().to_vec()),
        "plugin_vm_id" => return Some(d.vm_id.as_bytes().to_vec()),
        _ => {}
    }
    d.world().properties.get(key).cloned()
}

/// `proxy_set_property`: Envoy stores it as filter state of the active stream; a root
/// context has no stream info, so it is NOT_FOUND there. Returns whether it was stored.
pub(crate) fn set(d: &mut VmData, key: String, value: Vec<u8>) -> bool {
    let active = d.active;
    if let Some(s) = d.http.get_mut(&active) {
        s.properties.insert(key, value);
    } else if let Some(t) = d.tcp.get_mut(&active) {
        t.properties.insert(key, value);
    } else {
        return false;
    }
    true
}

/// Parses `envoy.source.extensions.common.wasm.SetEnvoyFilterStateArguments`
/// (field 1 `path`, field 2 `value`, both length-delimited).
pub(crate) fn parse_filter_state_args(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut at = 0;
    let mut path = None;
    let mut value = Vec::new();
    let varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*at)?;
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while at < bytes.len() {
        let tag = varint(&mut at)?;
        match tag & 7 {
            0 => {
                varint(&mut at)?;
            }
            2 => {
                let len = varint(&mut at)? as usize;
                let data = bytes.get(at..at + len)?;
                at += len;
                match tag >> 3 {
                    1 => path = Some(String::from_utf8_lossy(data).into_owned()),
                    2 => value = data.to_vec(),
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    Some((path?, value))
}
