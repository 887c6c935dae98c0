//! The router after the filter: the route table, the route cached at the start of the
//! chain or recomputed after a route-cache clear, and the 404 (NR) / 503 (NC) replies.

use crate::records::{LocalResponse, ReplySource};
use crate::routes::{Route, RouteDecision, VirtualHost, decide};
use crate::state::{Pairs, lock};

use super::{Host, StreamId};

impl Host {
    /// The route table: the configured virtual hosts, or one catch-all virtual host built
    /// from `route_cluster_header` / `route_cluster`.
    fn virtual_hosts(&self) -> Vec<VirtualHost> {
        if !self.cfg.virtual_hosts.is_empty() {
            return self.cfg.virtual_hosts.clone();
        }
        let route = match (&self.cfg.route_cluster_header, &self.cfg.route_cluster) {
            (Some(h), _) => Route::prefix_to_cluster_header("default", "/", h),
            (None, Some(c)) => Route::prefix_to_cluster("default", "/", c),
            (None, None) => return Vec::new(),
        };
        vec![VirtualHost::new("default", ["*"]).route(route)]
    }

    pub(super) fn route_for(&self, headers: &Pairs) -> RouteDecision {
        decide(&self.virtual_hosts(), headers, self.cfg.strip_any_host_port)
    }

    fn routing_enabled(&self) -> bool {
        !self.cfg.virtual_hosts.is_empty()
            || self.cfg.route_cluster_header.is_some()
            || self.cfg.route_cluster.is_some()
    }

    /// The router's decision once request headers leave the filter.
    pub(super) fn route(&mut self, id: StreamId) {
        if !self.routing_enabled() || self.ended(id) {
            return;
        }
        let host = self.host_id;
        let cleared = lock(&self.world)
            .route_clears
            .iter()
            .any(|c| c.host == host && c.worker == id.worker && c.context == id.context);
        let decision = if cleared {
            let headers = self
                .st(id)
                .map(|s| s.request.headers.clone())
                .unwrap_or_default();
            self.route_for(&headers)
        } else {
            self.rec(id).cached_route.clone()
        };
        self.rec(id).route = decision.clone();
        if let (Some(r), Some(s)) = (decision.route.clone(), self.st(id)) {
            s.properties
                .insert("route_name".to_string(), r.into_bytes());
        }
        if decision.route.is_none() {
            // No virtual host or no route: Envoy answers 404 with flag NR.
            let rec = self.rec(id);
            rec.response_flags.push("NR".to_string());
            let reply = LocalResponse {
                status: 404,
                body: Vec::new(),
                headers: Vec::new(),
                details: "route_not_found".to_string(),
                grpc_status: None,
                flags: vec!["NR".to_string()],
                source: ReplySource::Router,
            };
            self.local_reply(id, reply);
            return;
        }
        let cluster = decision.cluster;
        let known = cluster
            .as_ref()
            .is_some_and(|c| lock(&self.world).knows_cluster(c));
        let code = self.cfg.cluster_not_found_code;
        if let (Some(c), Some(s)) = (cluster.clone(), self.st(id)) {
            // What Envoy reports for the routed stream.
            s.properties
                .insert("xds\0cluster_name".to_string(), c.clone().into_bytes());
            s.properties
                .insert("cluster_name".to_string(), c.into_bytes());
        }
        let rec = self.rec(id);
        rec.upstream_cluster = cluster;
        if known {
            rec.upstream_reached = true;
        } else {
            rec.response_flags.push("NC".to_string());
            let reply = LocalResponse {
                status: code,
                body: Vec::new(),
                headers: Vec::new(),
                details: "cluster_not_found".to_string(),
                grpc_status: None,
                flags: vec!["NC".to_string()],
                source: ReplySource::Router,
            };
            self.local_reply(id, reply);
        }
    }
}
