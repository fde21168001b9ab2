//! Sandbox-only demo routes of our own: `POST /sandbox/messenger/send`
//! writes to the bot as a Messenger user would (a Meta-shaped, signed
//! webhook event through the real webhook path); the bot's answers appear
//! in `GET /sandbox/outbox`.
use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use std::sync::Arc;

use crate::webhook::Webhook;

#[derive(Deserialize)]
pub struct Say {
    /// The pretend Messenger user.
    psid: String,
    text: String,
}

pub async fn messenger_send(State(webhook): State<Arc<Webhook>>, Json(say): Json<Say>) -> impl IntoResponse {
    if say.psid.trim().is_empty() || say.text.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "give a psid and a text" })),
        );
    }
    let now = webhook.now().timestamp_millis();
    let mid = format!("m_sandbox_{}", uuid::Uuid::now_v7().simple());
    let body = json!({ "object": "page", "entry": [{ "id": "sandbox-page", "time": now, "messaging": [{
        "sender": { "id": say.psid }, "recipient": { "id": "sandbox-page" }, "timestamp": now,
        "message": { "mid": mid, "text": say.text } }] }] })
    .to_string();
    let secret = webhook
        .app_secret()
        .map(|s| s.expose_secret().to_owned())
        .unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let signed = format!("sha256={signature}");
    if webhook.check_signature(Some(&signed), body.as_bytes()).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "signing failed" })),
        );
    }
    match webhook.receive(body.as_bytes()).await {
        Ok(_) => (StatusCode::ACCEPTED, Json(json!({ "mid": mid }))),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        ),
    }
}
