//! Envoy's route table, reduced to what filter tests need: virtual hosts chosen by
//! `:authority` (exact, suffix wildcard, prefix wildcard, `*`), prefix routes, and a route
//! action that is either a fixed cluster or a `cluster_header`.

/// A route's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    Cluster(String),
    /// Envoy `cluster_header`: the cluster name is this request header's value.
    ClusterHeader(String),
}

/// One route: first match in declaration order wins (Envoy semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub prefix: String,
    pub action: RouteAction,
}

impl Route {
    /// A prefix route sending to a fixed cluster.
    pub fn prefix_to_cluster(name: &str, prefix: &str, cluster: &str) -> Self {
        Route {
            name: name.to_string(),
            prefix: prefix.to_string(),
            action: RouteAction::Cluster(cluster.to_string()),
        }
    }
    /// A prefix route with `cluster_header`.
    pub fn prefix_to_cluster_header(name: &str, prefix: &str, header: &str) -> Self {
        Route {
            name: name.to_string(),
            prefix: prefix.to_string(),
            action: RouteAction::ClusterHeader(header.to_ascii_lowercase()),
        }
    }
}

/// A virtual host: domains and ordered routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualHost {
    pub name: String,
    pub domains: Vec<String>,
    pub routes: Vec<Route>,
}

impl VirtualHost {
    pub fn new<S: AsRef<str>>(name: &str, domains: impl IntoIterator<Item = S>) -> Self {
        VirtualHost {
            name: name.to_string(),
            domains: domains
                .into_iter()
                .map(|d| d.as_ref().to_ascii_lowercase())
                .collect(),
            routes: Vec::new(),
        }
    }
    pub fn route(mut self, r: Route) -> Self {
        self.routes.push(r);
        self
    }
}

/// What the router decided for a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDecision {
    pub virtual_host: Option<String>,
    pub route: Option<String>,
    /// The cluster named by the route (possibly unknown, possibly absent for a
    /// `cluster_header` route whose header is missing).
    pub cluster: Option<String>,
}

/// Envoy's virtual-host selection: exact domain, then the longest suffix wildcard
/// (`*.example.com`), then the longest prefix wildcard (`example.*`), then `*`.
pub fn select_virtual_host<'a>(
    vhosts: &'a [VirtualHost],
    authority: &str,
    strip_port: bool,
) -> Option<&'a VirtualHost> {
    let mut host = authority.to_ascii_lowercase();
    if strip_port {
        host = strip_host_port(&host).to_string();
    }
    let exact = vhosts.iter().find(|v| v.domains.contains(&host));
    if exact.is_some() {
        return exact;
    }
    let mut best: Option<(&VirtualHost, usize)> = None;
    for v in vhosts {
        for d in &v.domains {
            if let Some(suffix) = d.strip_prefix('*')
                && !suffix.is_empty()
                && host.len() > suffix.len()
                && host.ends_with(suffix)
                && best.is_none_or(|(_, l)| suffix.len() > l)
            {
                best = Some((v, suffix.len()));
            }
        }
    }
    if let Some((v, _)) = best {
        return Some(v);
    }
    for v in vhosts {
        for d in &v.domains {
            if let Some(prefix) = d.strip_suffix('*')
                && !prefix.is_empty()
                && host.len() > prefix.len()
                && host.starts_with(prefix)
                && best.is_none_or(|(_, l)| prefix.len() > l)
            {
                best = Some((v, prefix.len()));
            }
        }
    }
    if let Some((v, _)) = best {
        return Some(v);
    }
    vhosts.iter().find(|v| v.domains.iter().any(|d| d == "*"))
}

/// `strip_any_host_port`: drops `:port`, keeping IPv6 literals (`[::1]:443` -> `[::1]`).
pub fn strip_host_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].chars().all(|c| c.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

/// Routes a request given its (current) headers.
pub fn decide(
    vhosts: &[VirtualHost],
    headers: &[(String, String)],
    strip_port: bool,
) -> RouteDecision {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let authority = get(":authority")
        .or_else(|| get("host"))
        .unwrap_or_default();
    let path = get(":path").unwrap_or("/");
    let Some(v) = select_virtual_host(vhosts, authority, strip_port) else {
        return RouteDecision::default();
    };
    let mut d = RouteDecision {
        virtual_host: Some(v.name.clone()),
        ..Default::default()
    };
    if let Some(r) = v.routes.iter().find(|r| path.starts_with(&r.prefix)) {
        d.route = Some(r.name.clone());
        d.cluster = match &r.action {
            RouteAction::Cluster(c) => Some(c.clone()),
            RouteAction::ClusterHeader(h) => get(h).map(str::to_string),
        };
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<VirtualHost> {
        vec![
            VirtualHost::new("exact", ["a.example.com"])
                .route(Route::prefix_to_cluster("r1", "/", "a")),
            VirtualHost::new("suffix", ["*.example.com"])
                .route(Route::prefix_to_cluster("r2", "/", "s")),
            VirtualHost::new("prefix", ["api.*"]).route(Route::prefix_to_cluster("r3", "/", "p")),
            VirtualHost::new("any", ["*"]).route(Route::prefix_to_cluster("r4", "/x", "x")),
        ]
    }

    /// Envoy's order: exact, suffix wildcard, prefix wildcard, catch-all; ports matter unless stripped.
    #[test]
    fn virtual_host_selection_order() {
        let t = table();
        let pick =
            |h: &str, strip: bool| select_virtual_host(&t, h, strip).map(|v| v.name.as_str());
        assert_eq!(pick("A.EXAMPLE.com", false), Some("exact"));
        assert_eq!(pick("b.example.com", false), Some("suffix"));
        assert_eq!(pick("api.other.org", false), Some("prefix"));
        assert_eq!(pick("a.example.com:443", false), Some("any"));
        assert_eq!(pick("a.example.com:443", true), Some("exact"));
        assert_eq!(strip_host_port("[::1]:443"), "[::1]");
    }
}
