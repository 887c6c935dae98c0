//! The server: published inputs, the proxies following them, and the port they connect to.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use portcullis_compile::compile::GatewayIdentity;
use portcullis_envoy::Snapshot;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::catalog::{Admissions, Catalog, Compiled, Inputs, ProxyDefaults, WorkloadKey};
use crate::metrics::Metrics;
use crate::status::{ProxyStatus, Registry};

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gRPC/HTTP server failed.
    #[error("xDS server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The listening socket failed.
    #[error("xDS server socket: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Serve(_) => "serve",
            Error::Io(_) => "io",
        }
    }
}

/// State shared by the streams and the HTTP endpoints.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) catalog: watch::Sender<Arc<Catalog>>,
    pub(crate) defaults: Arc<ProxyDefaults>,
    /// Each workload's accepted resource versions, kept across publications.
    admissions: Arc<Admissions>,
    pub(crate) registry: Registry,
    pub(crate) metrics: Metrics,
    pub(crate) next_stream: AtomicU64,
    /// Set when the server shuts down: every stream ends, so the proxies reconnect elsewhere
    /// (a graceful shutdown would otherwise wait for streams that never end).
    pub(crate) closing: watch::Sender<bool>,
    published: AtomicBool,
    /// The last configuration of each workload that compiled, served when a newer one does not.
    last_good: Mutex<BTreeMap<WorkloadKey, Arc<Snapshot>>>,
}

impl Shared {
    /// The configuration workload `gateway` should run now, and what to note about it.
    pub(crate) async fn target_for(
        &self,
        catalog: &Catalog,
        gateway: &GatewayIdentity,
    ) -> (Arc<Snapshot>, Compiled) {
        let compiled = catalog.for_workload(gateway).await;
        self.metrics.compile.observe(compiled.took.as_secs_f64());
        let key = (gateway.labels.clone(), gateway.namespace.clone());
        let mut last_good = self
            .last_good
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let target = match &compiled.snapshot {
            Some(snapshot) => {
                last_good.insert(key, Arc::clone(snapshot));
                Arc::clone(snapshot)
            }
            None => {
                self.metrics.compile_errors.inc();
                last_good
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(empty_snapshot()))
            }
        };
        (target, compiled)
    }
}

/// A configuration with nothing in it: what a proxy gets while nothing good exists for it.
fn empty_snapshot() -> Snapshot {
    Snapshot {
        version: "empty".into(),
        listeners: vec![],
        clusters: vec![],
        filter_configs: vec![],
        secrets: vec![],
    }
}

/// The xDS server. Cheap to clone; every clone is the same server.
#[derive(Clone, Debug)]
pub struct XdsServer {
    pub(crate) shared: Arc<Shared>,
}

impl XdsServer {
    /// A server rendering every proxy's configuration with `defaults`; it serves an empty
    /// configuration until the first [`XdsServer::publish`].
    pub fn new(defaults: ProxyDefaults) -> Self {
        let defaults = Arc::new(defaults);
        let admissions = Arc::new(Admissions::default());
        let first = Catalog::new(
            0,
            Arc::new(Inputs::default()),
            Arc::clone(&defaults),
            Arc::clone(&admissions),
        );
        let (catalog, _) = watch::channel(Arc::new(first));
        XdsServer {
            shared: Arc::new(Shared {
                catalog,
                defaults,
                admissions,
                registry: Registry::default(),
                metrics: Metrics::default(),
                next_stream: AtomicU64::new(1),
                closing: watch::Sender::new(false),
                published: AtomicBool::new(false),
                last_good: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Publishes new inputs: every connected proxy gets its workload's new configuration.
    pub fn publish(&self, inputs: Inputs) {
        let generation = self.shared.catalog.borrow().generation + 1;
        let catalog = Catalog::new(
            generation,
            Arc::new(inputs),
            Arc::clone(&self.shared.defaults),
            Arc::clone(&self.shared.admissions),
        );
        self.shared.catalog.send_replace(Arc::new(catalog));
        self.shared.published.store(true, Ordering::Release);
    }

    /// The configuration workload `gateway` gets from the inputs published last (compiled if
    /// no proxy of it asked yet).
    pub async fn compiled(&self, gateway: &GatewayIdentity) -> Compiled {
        let catalog = Arc::clone(&self.shared.catalog.borrow());
        catalog.for_workload(gateway).await
    }

    /// Inputs were published at least once.
    pub fn ready(&self) -> bool {
        self.shared.published.load(Ordering::Acquire)
    }

    /// Every connected proxy.
    pub fn status(&self) -> Vec<ProxyStatus> {
        self.shared.registry.list()
    }

    /// Notified whenever a proxy's status changes.
    pub fn watch_status(&self) -> watch::Receiver<u64> {
        self.shared.registry.watch()
    }

    /// Serves `registry`'s metrics on the server's `/metrics` too (names must not collide).
    pub fn add_metrics(&self, registry: Arc<prometheus_client::registry::Registry>) {
        self.shared.metrics.add_registry(registry);
    }

    /// The metrics, in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Serves ADS (gRPC) and the HTTP endpoints (`/healthz`, `/readyz`, `/metrics`, `/status`,
    /// `/modules/<sha256>`) on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let ads = AggregatedDiscoveryServiceServer::new(crate::service::Ads {
            shared: Arc::clone(&self.shared),
        });
        let routes = tonic::service::Routes::new(ads)
            .into_axum_router()
            .merge(crate::http::router(self.clone()));
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let closing = self.shared.closing.clone();
        let shutdown = async move {
            shutdown.await;
            closing.send_replace(true);
        };
        tonic::transport::Server::builder()
            // Prometheus, curl and Envoy's module fetches speak HTTP/1.1; Envoy's gRPC, h2c.
            .accept_http1(true)
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
            .add_routes(tonic::service::Routes::from(routes))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}
