//! The sandbox's own routes — `POST /sandbox/messenger/send`,
//! `POST /sandbox/spotify/play`, `POST /sandbox/spotify/faults`,
//! `POST /sandbox/google/faults`, `GET /sandbox/outbox` — and any path
//! under `/sandbox` that names no route answer every error in one shape:
//! a JSON body `{"error": "<what is wrong and what to send instead>"}`
//! with a 4xx status (400 bad input, 404 nothing there, 405 wrong method,
//! 503 the server cannot take it now). The stand-ins of the providers
//! answer as those providers document instead: that is what they are for.
use axum::{
    Json,
    extract::{FromRequest, OriginalUri, Request},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error of a sandbox route, in the one shape.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A JSON request body; one that is missing, malformed or of the wrong
/// shape is refused as a 400 [`error`] saying why (axum's own rejection
/// is a plain-text 4xx).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(error(StatusCode::BAD_REQUEST, rejection.body_text())),
        }
    }
}

/// A path under `/sandbox` that names no route.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no sandbox route {method} {}", uri.path()),
    )
}

/// A sandbox route asked with a method it does not take.
pub async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}
