//! The Messenger webhook: the subscription handshake, and signed events.
//!
//! A POST is checked before it is parsed: `X-Hub-Signature-256` must be the
//! HMAC-SHA256 of the raw body under the app secret (compared in constant
//! time). Each message or postback is then handed to the inbox
//! (`messenger::inbox`), which stores it once per message id with a job per
//! sender; the webhook answers as soon as that is committed and never waits
//! for Spotify, the Send API or a command. Echoes, delivery and read
//! receipts are ignored.
//!
//! An edge: it checks and translates Meta's events, nothing more.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::{
    clock::Clock,
    crypto::sha256_hex,
    messenger::inbox::{Inbox, NewEvent},
};
use entity::messenger_inbox::Kind;

/// Why a POST was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("missing or wrong X-Hub-Signature-256")]
    Signature,
    #[error("the body is not a Messenger webhook event")]
    Malformed,
    /// The events could not be stored: Meta should deliver them again.
    #[error("the events could not be stored")]
    Unavailable,
}

/// The webhook's state: its secrets, and the inbox it hands events to.
pub struct Webhook {
    clock: Arc<dyn Clock>,
    /// Checks signatures (`X-Hub-Signature-256`).
    app_secret: Option<SecretString>,
    /// Answers the subscription handshake.
    verify_token: Option<SecretString>,
    /// Stores events, several posts per transaction under load.
    inbox: Inbox,
}

impl Webhook {
    pub fn new(
        clock: Arc<dyn Clock>,
        app_secret: Option<SecretString>,
        verify_token: Option<SecretString>,
        inbox: Inbox,
    ) -> Self {
        Self {
            clock,
            app_secret,
            verify_token,
            inbox,
        }
    }

    /// "Now", for the sandbox's pretend events.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The secret events are signed with (the sandbox signs its own).
    pub fn app_secret(&self) -> Option<&SecretString> {
        self.app_secret.as_ref()
    }

    /// The subscription handshake: the challenge when the token matches.
    pub fn verify_subscription(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Option<String> {
        let expected = self.verify_token.as_ref()?;
        let matches = token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.expose_secret().as_bytes()));
        (mode == Some("subscribe") && matches).then(|| challenge.unwrap_or_default().to_owned())
    }

    /// Checks the signature of the raw body.
    pub fn check_signature(&self, header: Option<&str>, body: &[u8]) -> Result<(), Refused> {
        let secret = self.app_secret.as_ref().ok_or(Refused::Signature)?;
        let hex = header
            .and_then(|h| h.strip_prefix("sha256="))
            .ok_or(Refused::Signature)?;
        let signature = decode_hex(hex).ok_or(Refused::Signature)?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes()).map_err(|_| Refused::Signature)?;
        mac.update(body);
        mac.verify_slice(&signature).map_err(|_| Refused::Signature)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    #[serde(default)]
    timestamp: i64,
    message: Option<Message>,
    postback: Option<Postback>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    text: Option<String>,
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    is_echo: bool,
}

#[derive(Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    payload: Option<String>,
    title: Option<String>,
}

impl Webhook {
    /// Stores the events of a verified body; answers once they are committed.
    ///
    /// # Errors
    /// `Malformed` for a body that is not a page's webhook event (nothing is
    /// stored); `Unavailable` when the events could not be stored.
    #[tracing::instrument(skip_all)]
    pub async fn receive(&self, body: &[u8]) -> Result<(), Refused> {
        let payload: Payload = serde_json::from_slice(body).map_err(|_| Refused::Malformed)?;
        if payload.object != "page" {
            return Err(Refused::Malformed);
        }
        let now = self.clock.now();
        let events: Vec<NewEvent> = payload
            .entry
            .into_iter()
            .flat_map(|entry| entry.messaging)
            .filter_map(to_event)
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        self.inbox.store(events, now).await.map_err(|_| Refused::Unavailable)
    }
}

fn to_event(event: Messaging) -> Option<NewEvent> {
    let psid = event.sender.id;
    let (mid, kind, text, payload) = match (event.message, event.postback) {
        (Some(message), _) if message.is_echo => return None,
        (Some(message), _) => match message.quick_reply {
            Some(reply) => (message.mid, Kind::QuickReply, message.text, Some(reply.payload)),
            None => (message.mid, Kind::Message, message.text, None),
        },
        (None, Some(postback)) => {
            // Postbacks may come without a mid; make one that a redelivery repeats.
            let mid = postback.mid.unwrap_or_else(|| {
                let seed = format!(
                    "{psid}:{}:{}",
                    event.timestamp,
                    postback.payload.as_deref().unwrap_or("")
                );
                format!("postback:{}", sha256_hex(&seed))
            });
            (mid, Kind::Postback, postback.title, postback.payload)
        }
        // Delivery and read receipts, reactions, …: nothing to do.
        (None, None) => return None,
    };
    Some(NewEvent {
        mid,
        psid,
        sent_at_ms: event.timestamp,
        kind,
        text,
        payload,
    })
}
