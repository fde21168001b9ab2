//! Liveness and readiness.
use axum::{extract::State, http::StatusCode, response::IntoResponse};

use crate::{app::AppState, db};

/// Alive: the process answers. Touches nothing else.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready: the database answers and every migration has run.
pub async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    match db::ready(&app.db).await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(err) => {
            tracing::warn!(error = ?err, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}"))
        }
    }
}
