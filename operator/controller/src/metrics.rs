//! The controller's Prometheus metrics, served on the xDS server's `/metrics` beside its own
//! (`portcullis_xds_*`: pushes, ACKs, NACKs per type, compile time, connected proxies).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A GatewayFilter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FilterLabels {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Why a reconcile failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `status_write`, `event`, …
    pub reason: String,
}

/// Every metric of the controller.
#[derive(Debug)]
pub struct Metrics {
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconciles that failed, by reason.
    pub failures: Family<FailureLabels, Counter>,
    /// Status writes (a reconcile that changes nothing writes nothing).
    pub status_writes: Counter,
    /// Inputs published to the xDS server.
    pub publications: Counter,
    /// Reading the stores into inputs.
    pub build_seconds: Histogram,
    /// Host names served, per GatewayFilter.
    pub hosts: Family<FilterLabels, Gauge>,
    /// Routes served, per GatewayFilter.
    pub routes: Family<FilterLabels, Gauge>,
    /// Size of the filters' compiled configuration (wire JSON), per GatewayFilter.
    pub config_bytes: Family<FilterLabels, Gauge>,
    /// Proxies running the compiled configuration, per GatewayFilter.
    pub programmed_proxies: Family<FilterLabels, Gauge>,
    /// Connected proxies of the workload, per GatewayFilter.
    pub connected_proxies: Family<FilterLabels, Gauge>,
    /// Istio resources (or parts) left out, per GatewayFilter.
    pub ignored: Family<FilterLabels, Gauge>,
    /// 1 while this replica leads.
    pub leader: Gauge,
}

impl Metrics {
    /// The metrics and the registry that serves them.
    pub fn new() -> (Arc<Self>, Registry) {
        let mut registry = Registry::with_prefix("portcullis_controller");
        let metrics = Metrics {
            reconciles: Counter::default(),
            failures: Family::default(),
            status_writes: Counter::default(),
            publications: Counter::default(),
            build_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            hosts: Family::default(),
            routes: Family::default(),
            config_bytes: Family::default(),
            programmed_proxies: Family::default(),
            connected_proxies: Family::default(),
            ignored: Family::default(),
            leader: Gauge::default(),
        };
        registry.register(
            "reconciles",
            "GatewayFilter reconciles",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "GatewayFilter reconciles that failed, by reason",
            metrics.failures.clone(),
        );
        registry.register(
            "status_writes",
            "GatewayFilter status writes",
            metrics.status_writes.clone(),
        );
        registry.register(
            "publications",
            "Inputs published to the xDS server",
            metrics.publications.clone(),
        );
        registry.register(
            "build_seconds",
            "Reading the watched objects into compile inputs",
            metrics.build_seconds.clone(),
        );
        registry.register("hosts", "Host names served", metrics.hosts.clone());
        registry.register("routes", "Routes served", metrics.routes.clone());
        registry.register(
            "config_bytes",
            "Size of the filters' compiled configuration (wire JSON)",
            metrics.config_bytes.clone(),
        );
        registry.register(
            "programmed_proxies",
            "Proxies of the workload running its compiled configuration",
            metrics.programmed_proxies.clone(),
        );
        registry.register(
            "connected_proxies",
            "Proxies of the workload connected",
            metrics.connected_proxies.clone(),
        );
        registry.register(
            "ignored_resources",
            "Istio resources or parts of them left out",
            metrics.ignored.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the lease",
            metrics.leader.clone(),
        );
        (Arc::new(metrics), registry)
    }
}
