//! Reading the request once, in as few host calls as the config allows.

use portcullis_core::RequestView;

use crate::host;

/// The parts of a request the core needs, read once per request.
#[derive(Debug, Default)]
pub struct RequestData {
    /// The connection's destination port (selects the listener).
    pub bind_port: u16,
    /// `:authority`.
    pub authority: String,
    /// `:path`.
    pub path: String,
    /// `:method`.
    pub method: String,
    /// `:scheme`.
    pub scheme: String,
    /// The connection's TLS SNI (`connection.requested_server_name`), read only when the config
    /// has a TLS server (G-11); `None` otherwise, for plain text, or when the client sent none.
    pub sni: Option<String>,
    /// Headers the config's matchers read, repeated values joined with `,` as Envoy's header
    /// matchers see them.
    pub headers: Vec<(String, String)>,
}

impl RequestData {
    /// Reads the pseudo-headers one by one and, only when some matcher needs other headers,
    /// the header map once. Most configs match on host and path only, and single-header reads
    /// are the cheapest host calls. The SNI is read only when `read_sni` (see
    /// [`portcullis_core::Gateway::needs_sni`]), so configs without HTTPS servers pay nothing.
    pub fn read(referenced_headers: &[String], read_sni: bool) -> Self {
        let mut data = RequestData {
            bind_port: host::property_u64(&["destination", "port"])
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            sni: if read_sni {
                host::property_string(&["connection", "requested_server_name"])
                    .filter(|s| !s.is_empty())
            } else {
                None
            },
            ..RequestData::default()
        };
        if referenced_headers.is_empty() {
            data.authority = host::request_header(":authority").unwrap_or_default();
            data.path = host::request_header(":path").unwrap_or_default();
            data.method = host::request_header(":method").unwrap_or_default();
            data.scheme = host::request_header(":scheme").unwrap_or_default();
            return data;
        }
        for (name, value) in host::request_headers() {
            match name.as_str() {
                ":authority" => data.authority = value,
                ":path" => data.path = value,
                ":method" => data.method = value,
                ":scheme" => data.scheme = value,
                _ if referenced_headers.contains(&name) => {
                    match data.headers.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, joined)) => {
                            joined.push(',');
                            joined.push_str(&value);
                        }
                        None => data.headers.push((name, value)),
                    }
                }
                _ => {}
            }
        }
        data
    }

    /// The view the core decides on.
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            bind_port: self.bind_port,
            authority: &self.authority,
            path: &self.path,
            method: &self.method,
            scheme: &self.scheme,
            sni: self.sni.as_deref(),
            headers: &self.headers,
        }
    }
}
