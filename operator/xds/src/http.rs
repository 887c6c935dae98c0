//! The HTTP endpoints: health, readiness, metrics, proxy status, and the filter modules.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;

use crate::server::XdsServer;

pub(crate) fn router(server: XdsServer) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/modules/{sha256}", get(module))
        .with_state(server)
}

/// Ready once inputs were published: before that every proxy would get an empty configuration.
async fn readyz(State(server): State<XdsServer>) -> Response {
    if server.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration published yet\n",
        )
            .into_response()
    }
}

async fn metrics(State(server): State<XdsServer>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        server.metrics_text(),
    )
        .into_response()
}

async fn status(State(server): State<XdsServer>) -> Json<Vec<crate::status::ProxyStatus>> {
    Json(server.status())
}

/// A module by its SHA-256: immutable, so it may be cached forever.
async fn module(State(server): State<XdsServer>, Path(sha256): Path<String>) -> Response {
    match server.shared.defaults.modules.module(&sha256) {
        Some(module) => (
            [
                (header::CONTENT_TYPE, "application/wasm"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            module.bytes.to_vec(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such module\n").into_response(),
    }
}
