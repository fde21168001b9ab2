//! Sandbox-only demo routes of our own: `POST /sandbox/messenger/send`
//! writes to the bot as a Messenger user would (a Meta-shaped, signed
//! webhook event through the real webhook path); the bot's answers appear
//! in `GET /sandbox/outbox`. Besides text it can share a Spotify link the
//! way the Spotify app does (a `fallback` attachment behind Facebook's
//! `l.facebook.com` redirector) and open the conversation through an m.me
//! link with a `ref` (a `referral` event), as the link-code button does.
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
    /// What they write.
    text: Option<String>,
    /// A Spotify link they share from the Spotify app (with `text` or not).
    link: Option<String>,
    /// The `ref` of an m.me link they open (a link code, say).
    #[serde(rename = "ref")]
    reference: Option<String>,
}

pub async fn messenger_send(State(webhook): State<Arc<Webhook>>, Json(say): Json<Say>) -> impl IntoResponse {
    let now = webhook.now().timestamp_millis();
    let mid = format!("m_sandbox_{}", uuid::Uuid::now_v7().simple());
    let Some(mut event) = event(&say, &mid).filter(|_| !say.psid.trim().is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "give a psid, and a text, a link or a ref" })),
        );
    };
    event["sender"] = json!({ "id": say.psid });
    event["recipient"] = json!({ "id": "sandbox-page" });
    event["timestamp"] = json!(now);
    let body =
        json!({ "object": "page", "entry": [{ "id": "sandbox-page", "time": now, "messaging": [event] }] }).to_string();
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

/// The Meta-shaped event for what the pretend user does (without sender,
/// recipient and timestamp); `None` when they do nothing.
fn event(say: &Say, mid: &str) -> Option<serde_json::Value> {
    if let Some(reference) = &say.reference {
        return Some(json!({ "referral": { "ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD" } }));
    }
    let mut message = json!({ "mid": mid });
    if let Some(text) = &say.text {
        message["text"] = json!(text);
    }
    if let Some(link) = &say.link {
        let wrapped = reqwest::Url::parse_with_params("https://l.facebook.com/l.php", [("u", link.as_str())])
            .map_or_else(|_| link.clone(), String::from);
        message["attachments"] = json!([{ "type": "fallback", "payload": { "url": wrapped, "title": link } }]);
    }
    (say.text.is_some() || say.link.is_some()).then_some(json!({ "message": message }))
}
