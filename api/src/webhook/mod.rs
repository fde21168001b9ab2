//! The Messenger webhook: the subscription handshake, and signed events.
//!
//! A POST is checked before it is parsed: `X-Hub-Signature-256` must be the
//! HMAC-SHA256 of the raw body under the app secret (compared in constant
//! time). Its events are then read one by one ([`events`]: every shape
//! Meta documents for a page, in any mix; a body with a broken string is
//! repaired first, [`lenient`]) and those the bot can use are handed to the
//! inbox (`messenger::inbox`), which stores each once per message id with a
//! job per sender; the webhook answers as soon as that is committed and
//! never waits for Spotify, the Send API or a command. Events of no use
//! are counted (`messenger_webhook_ignored_total{event}`) and dropped;
//! events that cannot be stored are rejected, counted and logged without
//! their content, and never sink the rest of the POST. Only a body that is
//! not JSON is refused (400), and only a database that cannot be reached
//! makes Meta deliver a POST again (503).
//!
//! An edge: it checks and translates Meta's events, nothing more.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

use crate::{
    clock::Clock,
    messenger::inbox::{self, Inbox},
};

mod events;
mod lenient;
mod shared;

/// The largest webhook POST read, in bytes: 1,000 events (the most Meta
/// batches into one POST, per its Graph API webhooks guide) of the largest
/// size its Messenger documentation allows, [`MAX_EVENT_BYTES`], plus the
/// body's own envelope. A larger body is refused (413) as soon as its
/// `Content-Length` says so, or once that many bytes have arrived, before
/// it is buffered further.
pub const BODY_LIMIT: usize = 1_000 * MAX_EVENT_BYTES + 1024;

/// The largest webhook event Meta's documentation allows, as it is written
/// in a POST: a message whose `text` has the Send API's documented 2,000
/// characters, each written the longest way JSON allows (an emoji as a
/// `\uD83D\uDC4B` surrogate pair: 12 bytes), is 24,000 bytes of text; the
/// rest of the largest documented message event (sender, recipient,
/// timestamp, an 88-character `mid`, `reply_to`, an ad's `referral` with
/// its `ads_context_data` URLs, and its `entry` wrapper) is under 2 KiB:
/// 26,000 bytes in all. `docs/benchmarks/webhook.md` ("One POST of 1,000 events") shows the
/// sum, and its benchmark posts 1,000 such events.
pub const MAX_EVENT_BYTES: usize = 26_000;

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

impl Webhook {
    /// Stores the events of a verified body; answers once they are committed.
    ///
    /// # Errors
    /// `Malformed` for a body that is not JSON (nothing is stored);
    /// `Unavailable` when the events could not be stored.
    #[tracing::instrument(skip_all, fields(bytes = body.len()))]
    pub async fn receive(&self, body: &[u8]) -> Result<(), Refused> {
        let payload = lenient::parse(body).ok_or(Refused::Malformed)?;
        if !payload.is_object() {
            return Err(Refused::Malformed);
        }
        let now = self.clock.now();
        let mut events = Vec::new();
        for read in events::read(&payload, now) {
            match read {
                events::Read::Event(event) => events.push(event),
                events::Read::Ignored(event) => {
                    metrics::counter!("messenger_webhook_ignored_total", "event" => event).increment(1);
                }
                events::Read::Rejected(reason, kind) => inbox::rejected(reason, kind),
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        self.inbox.store(events, now).await.map_err(|_| Refused::Unavailable)
    }
}
