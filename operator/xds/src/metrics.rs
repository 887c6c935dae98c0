//! The server's Prometheus metrics.

use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a per-type metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// `cds`, `lds`, `ecds` or `sds`.
    pub resource_type: String,
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    /// Proxies with an open stream.
    pub connected: Gauge,
    /// Responses sent, by type.
    pub pushes: Family<TypeLabel, Counter>,
    /// Responses accepted, by type.
    pub acks: Family<TypeLabel, Counter>,
    /// Responses refused, by type.
    pub nacks: Family<TypeLabel, Counter>,
    /// Rollouts undone after a refusal.
    pub rollbacks: Counter,
    /// From sending a response to its ACK or NACK.
    pub push_to_ack: Histogram,
    /// Compiling and rendering one workload's configuration.
    pub compile: Histogram,
    /// Workload configurations that did not compile.
    pub compile_errors: Counter,
    registry: Registry,
    /// Registries of the process's other parts (the controller's), served on the same
    /// `/metrics`.
    others: RwLock<Vec<Arc<Registry>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portcullis_xds");
        let connected = Gauge::default();
        let pushes = Family::<TypeLabel, Counter>::default();
        let acks = Family::<TypeLabel, Counter>::default();
        let nacks = Family::<TypeLabel, Counter>::default();
        let rollbacks = Counter::default();
        // 100 µs … ~13 s.
        let push_to_ack = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let compile = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        let compile_errors = Counter::default();
        registry.register(
            "connected_proxies",
            "Proxies with an open ADS stream",
            connected.clone(),
        );
        registry.register("pushes", "DiscoveryResponses sent", pushes.clone());
        registry.register("acks", "DiscoveryResponses a proxy accepted", acks.clone());
        registry.register("nacks", "DiscoveryResponses a proxy refused", nacks.clone());
        registry.register(
            "rollbacks",
            "Rollouts undone after a refusal",
            rollbacks.clone(),
        );
        registry.register(
            "push_to_ack_seconds",
            "Time from a DiscoveryResponse to its ACK or NACK",
            push_to_ack.clone(),
        );
        registry.register(
            "compile_seconds",
            "Compiling and rendering one gateway workload's configuration",
            compile.clone(),
        );
        registry.register(
            "compile_errors",
            "Gateway workload configurations that did not compile",
            compile_errors.clone(),
        );
        Metrics {
            connected,
            pushes,
            acks,
            nacks,
            rollbacks,
            push_to_ack,
            compile,
            compile_errors,
            registry,
            others: RwLock::default(),
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut text, &self.registry);
        for other in self
            .others
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = encode_registry(&mut text, other);
        }
        let _ = encode_eof(&mut text);
        text
    }

    /// Serves `registry`'s metrics with the server's.
    pub fn add_registry(&self, registry: Arc<Registry>) {
        self.others
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(registry);
    }

    /// The label of a resource type.
    pub fn label(kind: crate::resource::ResourceType) -> TypeLabel {
        TypeLabel {
            resource_type: kind.short().to_string(),
        }
    }
}
