//! Prometheus metrics: every request counted and timed by route and status.
use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::app::AppState;

pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route template, never the raw path: ids in paths would explode the label set.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

pub async fn render(State(app): State<AppState>) -> impl IntoResponse {
    let mut body = app.telemetry.metrics.render();
    body.push_str("# HELP sendsongs_db_statements_total Statements this process sent to the database.\n");
    body.push_str("# TYPE sendsongs_db_statements_total counter\n");
    body.push_str(&format!(
        "sendsongs_db_statements_total {}\n",
        app.telemetry.statements_run()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
