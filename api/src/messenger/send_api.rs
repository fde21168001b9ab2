//! The Messenger Send API: `POST {graph}/me/messages` with the Page token.
//!
//! The token goes in the `Authorization` header, never the URL, so it
//! cannot end up in a log line. Errors come back as Graph API error codes.
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

/// How a send ended.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// 551: this person is not available (blocked the page, deactivated…).
    #[error("the person cannot be reached on Messenger (551)")]
    Unreachable,
    /// 4, 613, 5xx, timeouts: try again later.
    #[error("{0}")]
    Retry(String),
    /// 190: the Page token is invalid; an operator must fix it.
    #[error("the Page access token was refused (190)")]
    BadToken,
    /// Anything else the Send API refused.
    #[error("{0}")]
    Rejected(String),
}

/// Why the page writes: Messenger's `messaging_type`. Both are allowed only
/// inside the standard messaging window (tags are no longer accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// An answer to something the person just wrote (the bot's replies).
    Response,
    /// A notice the person did not ask for just now (notifications).
    Update,
}

impl MessagingType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Response => "RESPONSE",
            Self::Update => "UPDATE",
        }
    }
}

/// A quick-reply button.
#[derive(Debug, Clone)]
pub struct QuickReply {
    pub title: String,
    pub payload: String,
}

/// The Send API, with the Page token.
pub struct SendApi {
    http: reqwest::Client,
    /// Base of `/me/messages` (Graph API with its version).
    graph_url: String,
    page_token: SecretString,
    /// So an invalid Page token is logged loudly once, not per message.
    bad_token_logged: AtomicBool,
}

impl SendApi {
    pub fn new(graph_url: String, page_token: SecretString) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client builds"),
            graph_url,
            page_token,
            bad_token_logged: AtomicBool::new(false),
        }
    }

    /// Sends a text (with optional quick replies, at most 13, titles cut
    /// to 20 characters); answers the message id.
    #[tracing::instrument(skip(self, text, quick_replies))]
    pub async fn send_text(
        &self,
        psid: &str,
        messaging_type: MessagingType,
        text: &str,
        quick_replies: &[QuickReply],
    ) -> Result<String, SendError> {
        let mut message = json!({ "text": truncate(text, 2000) });
        if !quick_replies.is_empty() {
            message["quick_replies"] = quick_replies
                .iter()
                .take(13)
                .map(|q| json!({ "content_type": "text", "title": truncate(&q.title, 20), "payload": q.payload }))
                .collect();
        }
        let body =
            json!({ "recipient": { "id": psid }, "messaging_type": messaging_type.as_str(), "message": message });
        let response = self
            .http
            .post(format!("{}/me/messages", self.graph_url))
            .bearer_auth(self.page_token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                SendError::Retry(if e.is_timeout() {
                    "the Send API timed out".into()
                } else {
                    "the Send API is unreachable".into()
                })
            })?;
        let status = response.status();
        metrics::counter!("messenger_requests_total", "status" => status.as_u16().to_string()).increment(1);
        let answer: Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            return Ok(answer["message_id"].as_str().unwrap_or_default().to_owned());
        }
        let code = answer["error"]["code"].as_i64().unwrap_or_default();
        let message = answer["error"]["message"].as_str().unwrap_or("no message").to_owned();
        Err(match code {
            551 => SendError::Unreachable,
            4 | 613 => SendError::Retry(format!("rate limited ({code}): {message}")),
            190 => {
                if !self.bad_token_logged.swap(true, Ordering::Relaxed) {
                    tracing::error!("the Messenger Page access token is invalid (190): set a new MESSENGER_PAGE_TOKEN");
                }
                SendError::BadToken
            }
            _ if status.is_server_error() => SendError::Retry(format!("{status}: {message}")),
            _ => SendError::Rejected(format!("({code}) {message}")),
        })
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}
