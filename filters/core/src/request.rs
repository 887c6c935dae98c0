//! The request as the core sees it: a few borrowed fields and a header lookup.

/// Header lookup by lowercase name. When a header occurs several times, implementations return
/// the values joined with `,` (what Envoy's header matchers compare against).
pub trait Headers {
    /// The value of header `name` (lowercase), if present.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

impl Headers for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Headers::get(self.as_slice(), name)
    }
}

/// A request at the gateway. All strings are as received; the core normalises what it must.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// Port of the listener the request arrived on (the connection's destination port).
    pub bind_port: u16,
    /// `:authority` (the Host header), possibly with a port; empty when missing.
    pub authority: &'a str,
    /// `:path`, query string included.
    pub path: &'a str,
    /// `:method`.
    pub method: &'a str,
    /// `:scheme` as the client sent it (`match.scheme`, V-12, and redirects, V-19). It says
    /// nothing about the connection: a cleartext HTTP/2 client may send `:scheme: https`.
    pub scheme: &'a str,
    /// The downstream connection is TLS, as Envoy knows it (G-7): the filters take it from
    /// `x-forwarded-proto`, which Envoy overwrites from the real connection before any filter
    /// runs (the connection manager uses the remote address and trusts no hop). Decides
    /// `httpsRedirect` and `requireTls`, and whether a request on a port that mixes plain-text
    /// and TLS servers takes the TLS path.
    pub tls: bool,
    /// The TLS SNI of the connection (`connection.requested_server_name`); `None` for plain
    /// text or a TLS client that sent none. Selects the server on TLS ports (G-11).
    pub sni: Option<&'a str>,
    /// The name of the Envoy filter chain that took the connection (`xds.filter_chain_name`).
    /// On a TLS port whose servers name their chains (`Server.filterChain`), it selects the
    /// server, so the filter routes in the table of the very server whose certificate and
    /// client-certificate policy Envoy applied (G-11). `None` (the operator's `explain`, tests)
    /// selects by [`RequestView::sni`] with Envoy's own rule instead.
    pub filter_chain: Option<&'a str>,
    /// Every other header, by lowercase name.
    pub headers: &'a dyn Headers,
}

impl std::fmt::Debug for RequestView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestView")
            .field("bind_port", &self.bind_port)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("method", &self.method)
            .field("scheme", &self.scheme)
            .field("tls", &self.tls)
            .field("sni", &self.sni)
            .field("filter_chain", &self.filter_chain)
            .finish_non_exhaustive()
    }
}

impl RequestView<'_> {
    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        split_query(self.path).0
    }

    /// The query string without `?` (empty when there is none).
    pub fn query(&self) -> &str {
        split_query(self.path).1
    }
}

/// Splits `:path` into the path and the query string (without `?`). A fragment, which Envoy
/// strips before routing, is dropped.
pub fn split_query(path: &str) -> (&str, &str) {
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    }
}
