//! The ADS gRPC service: one task per stream, pumping a [`Session`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::ControlPlane;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::catalog::Compiled;
use crate::identity::ProxyIdentity;
use crate::metrics::Metrics;
use crate::server::Shared;
use crate::session::{self, Event, Output, Session};
use crate::status::{Nack, now};

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

/// The service tonic serves.
#[derive(Debug)]
pub(crate) struct Ads {
    pub(crate) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream;
    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(run(Arc::clone(&self.shared), request.into_inner(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "Portcullis serves state-of-the-world ADS; set api_type: GRPC",
        ))
    }
}

/// One stream, from its first request to its end.
async fn run(
    shared: Arc<Shared>,
    mut incoming: Streaming<DiscoveryRequest>,
    tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
) {
    let first = match incoming.message().await {
        Ok(Some(first)) => first,
        _ => return,
    };
    let identity = match ProxyIdentity::from_node(first.node.as_ref()) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "refusing an xDS stream");
            let _ = tx.send(Err(Status::invalid_argument(e.to_string()))).await;
            return;
        }
    };
    let stream = shared.next_stream.fetch_add(1, Ordering::Relaxed);
    shared.registry.connect(stream, &identity);
    shared.metrics.connected.inc();
    tracing::info!(node = %identity.node_id, labels = ?identity.gateway.labels,
        namespace = %identity.gateway.namespace, stream, "proxy connected");

    let mut closing = shared.closing.subscribe();
    let mut catalogs = shared.catalog.subscribe();
    let catalog = Arc::clone(&catalogs.borrow_and_update());
    let (target, compiled) = shared.target_for(&catalog, &identity.gateway).await;
    note(&shared, stream, &identity, &compiled);
    let mut pump = Pump {
        shared: &shared,
        stream,
        session: Session::new(target),
        sent_at: HashMap::new(),
        tx: &tx,
    };
    let mut next = Some(first);
    loop {
        if let Some(request) = next.take() {
            let out = pump.session.on_request(&session_request(&request));
            if pump.emit(out).await.is_err() {
                break;
            }
        }
        tokio::select! {
            _ = async { closing.wait_for(|closing| *closing).await.is_ok() } => break,
            message = incoming.message() => match message {
                Ok(Some(request)) => next = Some(request),
                Ok(None) => break,
                Err(status) => {
                    tracing::info!(node = %identity.node_id, stream, %status, "stream failed");
                    break;
                }
            },
            changed = catalogs.changed() => {
                if changed.is_err() {
                    break;
                }
                let catalog = Arc::clone(&catalogs.borrow_and_update());
                let (target, compiled) = shared.target_for(&catalog, &identity.gateway).await;
                note(&shared, stream, &identity, &compiled);
                let out = pump.session.on_target(target);
                if pump.emit(out).await.is_err() {
                    break;
                }
            }
        }
    }
    shared.registry.disconnect(stream);
    shared.metrics.connected.dec();
    tracing::info!(node = %identity.node_id, stream, "proxy disconnected");
}

/// Records why a workload has no configuration of its own, and warns once per publication.
fn note(shared: &Shared, stream: u64, identity: &ProxyIdentity, compiled: &Compiled) {
    let note = if let Some(error) = &compiled.error {
        tracing::warn!(node = %identity.node_id, %error,
            "the resources do not compile for this gateway; it keeps its last good configuration");
        Some(error.clone())
    } else if compiled.selects_nothing() {
        tracing::warn!(node = %identity.node_id, labels = ?identity.gateway.labels,
            namespace = %identity.gateway.namespace,
            "no Gateway selects this proxy: it gets an empty configuration");
        Some("no Gateway selects this proxy's labels".to_string())
    } else {
        None
    };
    shared.registry.modify(stream, |s| s.note = note);
}

/// Sends a session's output and records its events.
struct Pump<'a> {
    shared: &'a Shared,
    stream: u64,
    session: Session,
    sent_at: HashMap<String, Instant>,
    tx: &'a mpsc::Sender<Result<DiscoveryResponse, Status>>,
}

impl Pump<'_> {
    async fn emit(&mut self, out: Output) -> Result<(), ()> {
        let metrics = &self.shared.metrics;
        for event in &out.events {
            self.record(event);
        }
        for response in out.responses {
            metrics
                .pushes
                .get_or_create(&Metrics::label(response.kind))
                .inc();
            self.sent_at.insert(response.nonce.clone(), Instant::now());
            let message = DiscoveryResponse {
                version_info: response.version,
                resources: response
                    .resources
                    .iter()
                    .map(|(_, config)| portcullis_envoy::proto::any(config))
                    .collect(),
                type_url: response.kind.url().to_string(),
                nonce: response.nonce,
                control_plane: Some(ControlPlane {
                    identifier: concat!("portcullis/", env!("CARGO_PKG_VERSION")).to_string(),
                }),
                ..Default::default()
            };
            self.tx.send(Ok(message)).await.map_err(|_| ())?;
        }
        let (sent, acked, rolling_out) = (
            self.session.target().to_string(),
            self.session.serving().map(str::to_string),
            self.session.rolling_out(),
        );
        self.shared.registry.modify(self.stream, |s| {
            s.sent = Some(sent);
            s.acked = acked;
            s.rolling_out = rolling_out;
        });
        Ok(())
    }

    fn record(&mut self, event: &Event) {
        let metrics = &self.shared.metrics;
        match event {
            Event::Acked { kind, nonce } => {
                metrics.acks.get_or_create(&Metrics::label(*kind)).inc();
                self.observe(nonce);
            }
            Event::Delivered { resource } => {
                let resource = resource.clone();
                self.shared.registry.modify(self.stream, |s| {
                    if s.acked == s.sent {
                        s.last_rollout.clear();
                    }
                    s.last_rollout.push(resource);
                });
            }
            Event::Nacked {
                kind,
                resource,
                nonce,
                config_version,
                detail,
            } => {
                metrics.nacks.get_or_create(&Metrics::label(*kind)).inc();
                self.observe(nonce);
                tracing::warn!(stream = self.stream, resource_type = kind.short(),
                    version = %config_version, %detail, "proxy refused configuration");
                let nack = Nack {
                    resource_type: kind.short().to_string(),
                    resource: resource.clone(),
                    version: config_version.clone(),
                    detail: detail.clone(),
                    at: now(),
                };
                self.shared
                    .registry
                    .modify(self.stream, |s| s.last_nack = Some(nack));
            }
            Event::Serving { version } => {
                tracing::info!(stream = self.stream, %version, "proxy serves configuration");
            }
            Event::RolledBack { refused, serving } => {
                metrics.rollbacks.inc();
                tracing::warn!(stream = self.stream, %refused, %serving,
                    "rollout refused and undone; the proxy serves its previous configuration");
            }
        }
    }

    fn observe(&mut self, nonce: &str) {
        if let Some(sent) = self.sent_at.remove(nonce) {
            self.shared
                .metrics
                .push_to_ack
                .observe(sent.elapsed().as_secs_f64());
        }
    }
}

fn session_request(r: &DiscoveryRequest) -> session::Request {
    session::Request {
        type_url: r.type_url.clone(),
        version_info: r.version_info.clone(),
        resource_names: r.resource_names.clone(),
        response_nonce: r.response_nonce.clone(),
        error_detail: r.error_detail.as_ref().map(|e| e.message.clone()),
    }
}
