//! The Messenger Send API: `POST {graph}/me/messages` with the Page token.
//!
//! The token goes in the `Authorization` header, never the URL, so it
//! cannot end up in a log line. What an error means is decided by one
//! table ([`errors`]), for notifications and the bot's replies alike; the
//! API's own limits (text length, quick replies) are kept here
//! ([`limits`]) before a message leaves.
//!
//! The operator hears of a fault of the page, the app or the token once
//! per process (an error log line and `messenger_operator_alerts_total`),
//! not once per message. A refused Page token (190) stops the client:
//! every later message fails at once, without a call, while the token
//! stays refused (one call every [`RECHECK_TOKEN`] tells).
use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

pub mod errors;
pub mod limits;

pub use errors::Class;

/// How long a refused Page token stops sending before one message tries
/// it again.
pub const RECHECK_TOKEN: Duration = Duration::from_secs(300);

/// A message the Send API did not take: what to do about it, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    pub class: Class,
    /// Readable, for the delivery log.
    pub reason: String,
}

impl SendError {
    fn retry(reason: &str) -> Self {
        Self {
            class: Class::Retry,
            reason: reason.to_owned(),
        }
    }
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
    /// The faults the operator was told of, by code and subcode: each once.
    told: Mutex<HashSet<(i64, Option<i64>)>>,
    /// Since when, and why, the Page token is refused (190).
    token_refused: Mutex<Option<(Instant, SendError)>>,
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
            told: Mutex::new(HashSet::new()),
            token_refused: Mutex::new(None),
        }
    }

    /// Sends a text (with optional quick replies, at most
    /// [`limits::MAX_QUICK_REPLIES`], titles shortened to
    /// [`limits::MAX_TITLE`]); answers the message id. A text longer than
    /// a message is shortened here as a last resort: callers that can
    /// split ([`limits::split`]) do so before.
    ///
    /// # Errors
    /// What the answer means ([`errors::classify`]); a timeout or a lost
    /// connection is [`Class::Retry`].
    #[tracing::instrument(skip(self, text, quick_replies))]
    pub async fn send_text(
        &self,
        psid: &str,
        messaging_type: MessagingType,
        text: &str,
        quick_replies: &[QuickReply],
    ) -> Result<String, SendError> {
        if let Some(refused) = self.token_still_refused() {
            return Err(refused);
        }
        let mut message = json!({ "text": limits::fit(text) });
        if !quick_replies.is_empty() {
            message["quick_replies"] = quick_replies
                .iter()
                .take(limits::MAX_QUICK_REPLIES)
                .map(|q| json!({ "content_type": "text", "title": limits::title(&q.title), "payload": q.payload }))
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
                SendError::retry(if e.is_timeout() {
                    "the Send API timed out"
                } else {
                    "the Send API is unreachable"
                })
            })?;
        let status = response.status();
        metrics::counter!("messenger_requests_total", "status" => status.as_u16().to_string()).increment(1);
        let bytes = response
            .bytes()
            .await
            .map_err(|_| SendError::retry("the Send API's answer was cut short"))?;
        if status.is_success() {
            *self.token_refused.lock().expect("not poisoned") = None;
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            return Ok(answer["message_id"].as_str().unwrap_or_default().to_owned());
        }
        let classified = errors::classify(status, &bytes);
        let error = SendError {
            class: classified.class,
            reason: classified.reason,
        };
        if error.class.concerns_the_operator() {
            self.tell_operator(classified.code, &error);
        }
        if matches!(classified.code, Some((190, _))) {
            *self.token_refused.lock().expect("not poisoned") = Some((Instant::now(), error.clone()));
        }
        Err(error)
    }

    /// The error every message gets while the Page token is refused, unless
    /// it is time to try the token again.
    fn token_still_refused(&self) -> Option<SendError> {
        let mut refused = self.token_refused.lock().expect("not poisoned");
        let (since, error) = refused.as_mut()?;
        if since.elapsed() < RECHECK_TOKEN {
            return Some(error.clone());
        }
        // This message tries; the others keep failing until it is answered.
        *since = Instant::now();
        None
    }

    /// Tells the operator of a fault, once per code and subcode.
    fn tell_operator(&self, code: Option<(i64, Option<i64>)>, error: &SendError) {
        let Some(code) = code else { return };
        if !self.told.lock().expect("not poisoned").insert(code) {
            return;
        }
        metrics::counter!("messenger_operator_alerts_total", "code" => code.0.to_string()).increment(1);
        match error.class {
            Class::RetryLater => tracing::error!(
                reason = %error.reason,
                "the Send API is holding back the page's messages: they are tried again every hour"
            ),
            _ => tracing::error!(
                reason = %error.reason,
                "the Send API refuses the page's messages: the page, the app or its token needs fixing"
            ),
        }
    }
}
