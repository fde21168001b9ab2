//! `/webhooks/messenger`: Meta's subscription handshake and signed events.
use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use std::sync::Arc;

use crate::webhook::{Refused, Webhook};

/// `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → the challenge.
pub async fn verify(State(webhook): State<Arc<Webhook>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |key: &str| query.get(key).map(String::as_str);
    match webhook.verify_subscription(get("hub.mode"), get("hub.verify_token"), get("hub.challenge")) {
        Some(challenge) => (StatusCode::OK, [("content-type", "text/plain")], challenge).into_response(),
        None => StatusCode::FORBIDDEN.into_response(),
    }
}

/// Stores the events and answers at once; the work happens in the queue.
pub async fn receive(State(webhook): State<Arc<Webhook>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if let Err(refused) = webhook.check_signature(signature, &body) {
        tracing::warn!(reason = %refused, "webhook refused");
        return (StatusCode::FORBIDDEN, refused.to_string()).into_response();
    }
    match webhook.receive(&body).await {
        Ok(_) => (StatusCode::OK, "EVENT_RECEIVED").into_response(),
        Err(refused @ Refused::Malformed) => (StatusCode::BAD_REQUEST, refused.to_string()).into_response(),
        Err(refused @ Refused::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, refused.to_string()).into_response(),
        Err(refused) => (StatusCode::FORBIDDEN, refused.to_string()).into_response(),
    }
}
