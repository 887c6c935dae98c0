//! Reading the request once, in as few host calls as the config allows.

use portcullis_core::RequestView;

use crate::host;

/// The header Envoy sets from the connection's real protocol (G-7).
const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// Which connection facts a request read includes, each a host call only some configs need.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reads {
    /// The SNI ([`portcullis_core::Gateway::needs_sni`]).
    pub sni: bool,
    /// The filter chain name ([`portcullis_core::Gateway::needs_filter_chain`]).
    pub filter_chain: bool,
    /// `x-forwarded-proto` ([`portcullis_core::Gateway::needs_tls`]).
    pub tls: bool,
    /// `:path` ([`portcullis_core::Gateway::needs_path`]).
    pub path: bool,
    /// `:method` ([`portcullis_core::Gateway::needs_method`]).
    pub method: bool,
    /// `:scheme` ([`portcullis_core::Gateway::needs_scheme`]).
    pub scheme: bool,
    /// The bind port when the config already says it
    /// ([`portcullis_core::Gateway::sole_bind_port`]): the `destination.port` property read
    /// (the costliest of the reads in Envoy) is skipped.
    pub known_bind_port: Option<u16>,
}

impl Reads {
    /// What `gateway`'s decisions read.
    pub fn for_gateway(gateway: &portcullis_core::Gateway) -> Self {
        Reads {
            sni: gateway.needs_sni(),
            filter_chain: gateway.needs_filter_chain(),
            tls: gateway.needs_tls(),
            path: gateway.needs_path(),
            method: gateway.needs_method(),
            scheme: gateway.needs_scheme(),
            known_bind_port: gateway.sole_bind_port(),
        }
    }
}

/// The parts of a request the core needs, read once per request.
#[derive(Debug, Default)]
pub struct RequestData {
    /// The connection's destination port (selects the listener).
    pub bind_port: u16,
    /// `:authority`.
    pub authority: String,
    /// `:path` (empty unless [`Reads::path`], or when the header map is read).
    pub path: String,
    /// `:method` (empty unless [`Reads::method`], or when the header map is read).
    pub method: String,
    /// `:scheme` (empty unless [`Reads::scheme`], or when the header map is read).
    pub scheme: String,
    /// The connection is TLS: `x-forwarded-proto` is `https`. Envoy overwrites that header
    /// from the real connection before any filter runs (G-7), so a client cannot claim it.
    /// Read only when `read_tls` (see [`portcullis_core::Gateway::needs_tls`]).
    pub tls: bool,
    /// The connection's TLS SNI (`connection.requested_server_name`), read only when the config
    /// has a TLS server (G-11); `None` otherwise, for plain text, or when the client sent none.
    pub sni: Option<String>,
    /// The name of the filter chain that took the connection (`xds.filter_chain_name`), read
    /// only when the config's TLS servers name their chains (G-11). An unnamed chain reads as
    /// `Some("")`, which selects no server.
    pub filter_chain: Option<String>,
    /// Headers the config's matchers read, repeated values joined with `,` as Envoy's header
    /// matchers see them.
    pub headers: Vec<(String, String)>,
}

impl RequestData {
    /// Reads the pseudo-headers one by one and, only when some matcher needs other headers,
    /// the header map once. Most configs match on host and path only, and single-header reads
    /// are the cheapest host calls. Each read is a host call that copies a value into the VM
    /// (in Envoy the copy re-enters the VM to allocate), so only what `reads` asks for is read:
    /// `:path`, `:method`, `:scheme`, the SNI, the filter chain and `x-forwarded-proto` only when the
    /// config's decisions use them, and the bind port only when the config does not already
    /// say it (bench/attribution.sh measures each of these reads).
    pub fn read(referenced_headers: &[String], reads: Reads) -> Self {
        let Reads {
            sni: read_sni,
            filter_chain: read_filter_chain,
            tls: read_tls,
            path: read_path,
            method: read_method,
            scheme: read_scheme,
            known_bind_port,
        } = reads;
        let mut data = RequestData {
            bind_port: known_bind_port.unwrap_or_else(host::destination_port),
            sni: if read_sni {
                host::property_string(&["connection", "requested_server_name"])
                    .filter(|s| !s.is_empty())
            } else {
                None
            },
            filter_chain: read_filter_chain
                .then(|| host::property_string(&["xds", "filter_chain_name"]).unwrap_or_default()),
            ..RequestData::default()
        };
        if referenced_headers.is_empty() {
            data.authority = host::request_header(":authority").unwrap_or_default();
            if read_path {
                data.path = host::request_header(":path").unwrap_or_default();
            }
            if read_method {
                data.method = host::request_header(":method").unwrap_or_default();
            }
            if read_scheme {
                data.scheme = host::request_header(":scheme").unwrap_or_default();
            }
            if read_tls {
                data.tls = host::request_header(FORWARDED_PROTO)
                    .is_some_and(|p| p.eq_ignore_ascii_case("https"));
            }
            return data;
        }
        for (name, value) in host::request_headers() {
            if read_tls && name == FORWARDED_PROTO {
                data.tls = value.eq_ignore_ascii_case("https");
            }
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
            tls: self.tls,
            sni: self.sni.as_deref(),
            filter_chain: self.filter_chain.as_deref(),
            headers: &self.headers,
        }
    }
}
