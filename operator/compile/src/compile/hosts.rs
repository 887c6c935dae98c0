//! Host names: Gateway server hosts (G-5, V-2), VirtualService hosts (V-3) and their
//! intersection.

/// A normalised `Gateway.spec.servers[].hosts` entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ServerHost {
    /// Namespace restriction (V-2); `None` = any namespace.
    pub namespace: Option<String>,
    /// Lowercased DNS name: exact, `*.suffix` or `*`.
    pub dns: String,
}

/// Normalises one server host as istiod does (G-5): `./h` → `<gateway ns>/h`, `*/h` → `h`;
/// the DNS part is lowercased and validated.
pub(super) fn parse_server_host(raw: &str, gateway_namespace: &str) -> Result<ServerHost, String> {
    let (namespace, dns) = match raw.split_once('/') {
        Some((".", dns)) => (Some(gateway_namespace.to_string()), dns),
        Some(("*", dns)) => (None, dns),
        Some(("", _)) => return Err(format!("host {raw:?} has an empty namespace")),
        Some((ns, dns)) => (Some(ns.to_string()), dns),
        None => (None, raw),
    };
    let dns = dns.to_ascii_lowercase();
    validate_dns(&dns).map_err(|e| format!("host {raw:?}: {e}"))?;
    Ok(ServerHost { namespace, dns })
}

/// A DNS name with an optional wildcard as the whole left-most label, or `*` alone.
pub(super) fn validate_dns(dns: &str) -> Result<(), String> {
    if dns.is_empty() {
        return Err("empty host name".into());
    }
    if dns == "*" {
        return Ok(());
    }
    let rest = dns.strip_prefix("*.").unwrap_or(dns);
    if rest.contains('*') {
        return Err("a wildcard is only allowed as the whole left-most label".into());
    }
    if rest.split('.').any(str::is_empty) {
        return Err("empty label".into());
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("invalid character".into());
    }
    Ok(())
}

/// Resolves a VirtualService (or destination) host: a name without a dot is a Kubernetes
/// short name in the owner's namespace (V-3); everything else is kept, lowercased.
pub(super) fn resolve_short_name(host: &str, namespace: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host == "*" || host.contains('.') || host.contains(':') {
        host
    } else {
        format!("{host}.{namespace}.svc.cluster.local")
    }
}

/// Istio's `Name.SubsetOf`: `a` is equal to `b`, or `b` is a wildcard covering `a`.
pub(super) fn subset_of(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (b.strip_prefix('*'), a.strip_prefix('*')) {
        (Some(b_suffix), Some(a_suffix)) => a_suffix.ends_with(b_suffix),
        (Some(b_suffix), None) => a.ends_with(b_suffix),
        (None, _) => false,
    }
}

/// The intersection of a server host and a VS host, keeping the more specific side (V-3).
pub(super) fn intersect(server: &str, vs: &str) -> Option<String> {
    if subset_of(vs, server) {
        Some(vs.to_string())
    } else if subset_of(server, vs) {
        Some(server.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V-3: the host intersection table of docs/semantics.md.
    #[test]
    fn v3_intersection_table() {
        let table = [
            ("*", "*", Some("*")),
            ("*", "a.example.com", Some("a.example.com")),
            ("*.example.com", "dev.example.com", Some("dev.example.com")),
            ("dev.example.com", "*.example.com", Some("dev.example.com")),
            ("*.example.com", "*", Some("*.example.com")),
            ("*.example.com", "example.com", None),
            ("dev.example.com", "test.example.com", None),
            ("*.a.example.com", "*.example.com", Some("*.a.example.com")),
        ];
        for (server, vs, want) in table {
            assert_eq!(intersect(server, vs).as_deref(), want, "{server} ∩ {vs}");
        }
    }

    /// G-5: namespace prefixes are normalised and the DNS part lowercased.
    #[test]
    fn g5_server_host_normalisation() {
        let h = parse_server_host("./Dev.Example.com", "gw").unwrap();
        assert_eq!(
            h,
            ServerHost {
                namespace: Some("gw".into()),
                dns: "dev.example.com".into()
            }
        );
        assert_eq!(parse_server_host("*/a.com", "gw").unwrap().namespace, None);
        assert_eq!(
            parse_server_host("ns1/*", "gw")
                .unwrap()
                .namespace
                .as_deref(),
            Some("ns1")
        );
        assert!(parse_server_host("a.*.com", "gw").is_err());
        assert!(parse_server_host("", "gw").is_err());
    }

    /// V-3: short names resolve in the owner's namespace.
    #[test]
    fn v3_short_names() {
        assert_eq!(
            resolve_short_name("productpage", "bookinfo"),
            "productpage.bookinfo.svc.cluster.local"
        );
        assert_eq!(resolve_short_name("A.com", "x"), "a.com");
        assert_eq!(resolve_short_name("*", "x"), "*");
    }
}
