//! Operations endpoints: liveness, readiness (the core's gRPC health, which
//! tracks the database), Prometheus metrics, and the metrics middleware.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use super::Facade;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the core reports SERVING (database reachable, migrations applied).
pub async fn readyz(State(facade): State<Facade>) -> Response {
    let answer = facade
        .clients
        .health
        .clone()
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    match answer.map(|r| r.into_inner().status()) {
        Ok(ServingStatus::Serving) => Json(json!({"status": "ready"})).into_response(),
        Ok(status) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "core": status.as_str_name()})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "core": e.message()})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics() -> Response {
    if let Some(bytes) = crate::telemetry::resident_memory_bytes() {
        // Precision loss only above 2^53 bytes.
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
    match crate::telemetry::metrics_handle() {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

/// Counts requests and times them by route template (never by raw path, so
/// ids and tokens stay out of label values).
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("steward_http_requests_total", &labels).increment(1);
    metrics::histogram!("steward_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
