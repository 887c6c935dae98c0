//! `portcullis controller`: the watches, the publisher, the xDS server, the GatewayFilter
//! Controller and the leader election, in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use portcullis_xds::{ProxyDefaults, XdsServer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::crd::GatewayFilter;
use crate::leader::{self, Election};
use crate::metrics::Metrics;
use crate::publish::{self, Debounce, Publication};
use crate::reconcile::{self, Context};
use crate::watch::{Changes, Scope, Stores};

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the xDS server (ADS, `/metrics`, `/healthz`, `/readyz`, `/status`) listens.
    pub listen: SocketAddr,
    /// Where the controller looks.
    pub scope: Scope,
    /// The leader election; none: this replica always leads (one replica).
    pub election: Option<Election>,
    /// How bursts of changes are grouped.
    pub debounce: Debounce,
    /// What every proxy's configuration is rendered with.
    pub proxy: ProxyDefaults,
    /// The name events are reported under (this replica).
    pub instance: String,
    /// Where gateways fetch the modules from this controller (`IstioWasmPlugin` mode).
    pub module_url: Option<String>,
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The xDS server failed.
    #[error(transparent)]
    Xds(#[from] portcullis_xds::Error),
    /// Leadership was lost.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

/// A running controller's handles, for tests and the binary.
#[derive(Debug)]
pub struct Running {
    /// The xDS server.
    pub server: XdsServer,
    /// Where it listens.
    pub address: SocketAddr,
    /// The last publication.
    pub published: watch::Receiver<Arc<Publication>>,
}

/// Runs the controller until `shutdown` completes or leadership is lost; `started` gets the
/// handles once it listens.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    started: impl FnOnce(Running),
) -> Result<(), Error> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| Error::Listen {
        address: config.listen,
        source,
    })?;
    let server = XdsServer::new(config.proxy.clone());
    let (metrics, registry) = Metrics::new();
    server.add_metrics(Arc::new(registry));

    let (leading_tx, leading) = watch::channel(config.election.is_none());
    let filters_api: Api<GatewayFilter> = match &config.scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller = Controller::new(filters_api, watcher::Config::default())
        .with_config(controller::Config::default().debounce(Duration::from_millis(10)));
    let changes = Changes::default();
    let stores = Arc::new(Stores::start(
        client.clone(),
        &config.scope,
        controller.store(),
        changes.clone(),
    ));
    let (published_tx, published) = watch::channel(Arc::new(Publication::default()));

    let (stop_tx, stop) = watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tokio::spawn(shutdown);
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };

    let serve = {
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move { server.serve(listener, stopped(stop)).await })
    };
    let publisher = tokio::spawn(publish::run(
        Arc::clone(&stores),
        server.clone(),
        changes.clone(),
        leading.clone(),
        config.debounce,
        published_tx,
        Arc::clone(&metrics),
    ));
    let election = config.election.clone().map(|election| {
        let api: Api<Lease> = Api::namespaced(client.clone(), &election.namespace);
        tokio::spawn(leader::run(api, election, leading_tx))
    });

    started(Running {
        server: server.clone(),
        address,
        published: published.clone(),
    });

    // Status and events are written by the leader only.
    let mut leading_now = leading.clone();
    let _ = leading_now.wait_for(|l| *l).await;
    metrics.leader.set(1);
    let reporter = Reporter {
        controller: reconcile::FIELD_MANAGER.to_string(),
        instance: Some(config.instance.clone()),
    };
    let context = Arc::new(Context {
        client: client.clone(),
        server: server.clone(),
        published: published.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        filters: controller.store(),
        metrics: Arc::clone(&metrics),
        changes,
        environment: crate::distribute::Environment {
            module_url: config.module_url.clone(),
            proxy: config.proxy.clone(),
        },
        applier: crate::distribute::Applier::default(),
    });
    // Every publication and every change in a proxy's status re-evaluates every GatewayFilter
    // (there are few; the reconcile reads memory only and writes only what changed).
    let publications = WatchStream::from_changes(published).map(|_| ());
    let proxy_changes = WatchStream::from_changes(server.watch_status()).map(|_| ());
    let triggers = futures::stream::select(publications, proxy_changes);
    let controller = controller
        .reconcile_all_on(triggers)
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(reconcile::reconcile, reconcile::error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile");
            }
        });

    let result = match election {
        Some(election) => tokio::select! {
            _ = controller => Ok(()),
            lost = election => match lost {
                Ok(Err(e)) => Err(Error::Leader(e)),
                _ => Ok(()),
            },
        },
        None => {
            controller.await;
            Ok(())
        }
    };
    publisher.abort();
    let served = serve.await;
    result?;
    match served {
        Ok(r) => r.map_err(Error::from),
        Err(_) => Ok(()),
    }
}
