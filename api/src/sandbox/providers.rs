//! Wire-compatible, in-memory stand-ins for the notification providers:
//! Google's OAuth 2.0 token endpoint for service accounts, Firebase Cloud
//! Messaging (HTTP v1) and the Messenger Send API.
//!
//! The production clients talk to them over HTTP exactly as to the real
//! services, so they answer with the real status codes and JSON error bodies.
//! Nothing is delivered anywhere: every accepted message lands in an outbox a
//! newcomer can read. Sandbox mode nests [`router`] under `/sandbox`, points
//! the FCM client at a service account from
//! [`ProviderSandbox::service_account_json`] and the Send API client at
//! [`PAGE_TOKEN`]. Routes, relative to the mount point:
//!
//! - `POST /google/token`: stand-in for `https://oauth2.googleapis.com/token`,
//!   the JWT-bearer grant only ([`google`]).
//! - `POST /fcm/v1/projects/{project_id}/messages:send`: stand-in for
//!   `https://fcm.googleapis.com/v1/...` ([`fcm`]).
//! - `POST /graph/me/messages`: stand-in for
//!   `https://graph.facebook.com/v25.0/me/messages` ([`messenger`]).
//! - `GET /outbox`: the sandbox's own window on what was sent, newest first;
//!   `?psid=…` one conversation, oldest first. Each entry carries the id
//!   the provider answered (`mid`), which a reaction or reply names.
//!
//! To let a demo show a stale recipient being dropped, a device token or a
//! PSID starting with `unregistered` is refused as the real services refuse
//! one whose app was uninstalled or whose user is gone; other device-token
//! prefixes ask for FCM's other documented refusals and outages (see
//! [`fcm`]), and `POST /google/faults` with `{"fault": "<name>", "times": n}`
//! makes the token endpoint refuse the next `n` assertions as Google does
//! (queued behind earlier ones: `GET` lists the queue, `DELETE` empties it)
//! (`invalid_grant`, `invalid_client`, `unauthorized_client`,
//! `deleted_client`, `internal_failure`, `bad_gateway`: see [`google`]). The Send API answers any Graph error on
//! demand, by the recipient's PSID (see [`messenger`]):
//! `error-<code>[-<subcode>]-…` always, `flaky-<code>[-<subcode>]-…` the
//! first time only. The Messenger 24-hour window is not simulated.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use axum::{
    Json, Router,
    extract::{Query, State as AxumState, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde::Serialize;
use serde_json::json;

use crate::{clock::Clock, sandbox::control};

mod fcm;
mod google;
mod key;
mod messenger;

#[cfg(test)]
mod tests;

/// The Send API page token the sandbox accepts; any other is refused.
pub const PAGE_TOKEN: &str = "sandbox-page-token";
/// The Firebase project the sandbox service account belongs to; FCM refuses
/// sends to any other.
pub const PROJECT_ID: &str = "sendsongs-sandbox";

/// The sandbox service account's e-mail: the `iss` token assertions must carry.
const CLIENT_EMAIL: &str = "sendsongs-sandbox@sendsongs-sandbox.iam.gserviceaccount.com";
/// The service account's numeric ID, as Google lists it.
const CLIENT_ID: &str = "133068583865342597991";
/// The device-token and PSID prefix the sandbox treats as gone.
const UNREGISTERED_PREFIX: &str = "unregistered";
/// How many outbox entries are kept; older ones fall off, so a long sandbox
/// session does not grow without bound.
const OUTBOX_LIMIT: usize = 1000;

/// The fake providers. Cheap to share: every method takes `&self`.
pub struct ProviderSandbox {
    /// Everything the fakes remember. One lock for all of it, held only for
    /// short synchronous sections (never across an await).
    state: Mutex<State>,
    /// The source of "now" for assertion times and token expiry, so tests
    /// can move time instead of sleeping.
    clock: Arc<dyn Clock>,
    /// The public half of the service-account key, parsed once: the token
    /// endpoint checks every assertion's signature with it.
    public_key: DecodingKey,
}

/// The in-memory contents of the fakes.
#[derive(Default)]
struct State {
    /// Google access tokens issued by `/google/token`, by value, with the
    /// moment they stop working: FCM accepts only these.
    access_tokens: HashMap<String, DateTime<Utc>>,
    /// Everything accepted for delivery, oldest first, at most [`OUTBOX_LIMIT`].
    outbox: VecDeque<OutboxEntry>,
    /// The `flaky-…` PSIDs whose one error was given already.
    flaky_answered: std::collections::HashSet<String>,
    /// Refusals of the token endpoint queued by `POST /google/faults`, and
    /// how many times each is left.
    token_faults: VecDeque<(google::Fault, usize)>,
}

/// One message the sandbox accepted: what a real provider would have
/// delivered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// `"messenger"` or `"push"`: which provider took it.
    pub channel: &'static str,
    /// The recipient: a Messenger PSID or an FCM device token.
    pub to: String,
    /// What a person would read: the message text (or a short description
    /// of an attachment), or a push's `"title: body"`.
    pub text: String,
    /// The full request body received, for anyone checking the details.
    pub payload: serde_json::Value,
    /// The id the provider answered: a Messenger message's `message_id`
    /// (the `mid` a reaction or a reply to it names), an FCM message's
    /// `name`.
    pub mid: String,
    /// When the sandbox accepted it (the sandbox clock).
    pub at: DateTime<Utc>,
}

impl ProviderSandbox {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        let public_key =
            DecodingKey::from_rsa_pem(key::PUBLIC_KEY_PEM.as_bytes()).expect("the embedded sandbox public key parses");
        Arc::new(Self {
            state: Mutex::new(State::default()),
            clock,
            public_key,
        })
    }

    /// A Google service-account JSON (fields type, project_id,
    /// private_key_id, private_key (PEM, PKCS#8), client_email, client_id,
    /// token_uri, …) whose token_uri is the given URL.
    pub fn service_account_json(&self, token_uri: &str) -> String {
        let cert_url = format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            CLIENT_EMAIL.replace('@', "%40")
        );
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": key::PRIVATE_KEY_ID,
            "private_key": key::PRIVATE_KEY_PEM,
            "client_email": CLIENT_EMAIL,
            "client_id": CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": cert_url,
            "universe_domain": "googleapis.com",
        });
        serde_json::to_string_pretty(&account).unwrap_or_default()
    }

    /// Everything sent so far, newest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.lock().outbox.iter().rev().cloned().collect()
    }

    /// One conversation: what was sent to `to` (a PSID or a device token),
    /// oldest first, so it reads top to bottom.
    pub fn conversation(&self, to: &str) -> Vec<OutboxEntry> {
        self.lock().outbox.iter().filter(|e| e.to == to).cloned().collect()
    }

    /// The Messenger message with id `mid` sent to `psid`, if the outbox
    /// still holds it.
    pub fn message_to(&self, psid: &str, mid: &str) -> Option<OutboxEntry> {
        let state = self.lock();
        let found = state.outbox.iter().rev().find(|e| e.mid == mid);
        found.filter(|e| e.channel == "messenger" && e.to == psid).cloned()
    }

    /// The title of the quick reply with `payload` the newest message to
    /// `psid` offering it gave, if the outbox still holds one.
    pub fn quick_reply_title(&self, psid: &str, payload: &str) -> Option<String> {
        let state = self.lock();
        state
            .outbox
            .iter()
            .rev()
            .filter(|e| e.channel == "messenger" && e.to == psid)
            .filter_map(|e| e.payload["message"]["quick_replies"].as_array())
            .flatten()
            .find(|reply| reply["payload"] == payload)
            .and_then(|reply| reply["title"].as_str().map(str::to_owned))
    }

    /// Files an accepted message in the outbox under the id the provider
    /// answers, dropping the oldest beyond [`OUTBOX_LIMIT`].
    fn deliver(&self, channel: &'static str, to: &str, text: String, payload: serde_json::Value, mid: &str) {
        let entry = OutboxEntry {
            channel,
            to: to.to_owned(),
            text,
            payload,
            mid: mid.to_owned(),
            at: self.now(),
        };
        let mut state = self.lock();
        state.outbox.push_back(entry);
        while state.outbox.len() > OUTBOX_LIMIT {
            state.outbox.pop_front();
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the maps usable:
        // keep serving rather than failing every later request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Routes relative to the mount point (/sandbox).
pub fn router(sandbox: Arc<ProviderSandbox>) -> Router {
    Router::new()
        .route("/google/token", post(google::token))
        .route(
            "/google/faults",
            post(google::queue_fault)
                .get(google::list_faults)
                .delete(google::clear_faults),
        )
        .route("/fcm/v1/projects/{project_id}/messages:send", post(fcm::send))
        .route("/graph/me/messages", post(messenger::send))
        .route("/outbox", get(outbox))
        .with_state(sandbox)
}

/// Query of `GET /outbox`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    /// One conversation only (a PSID, or a device token).
    psid: Option<String>,
}

/// `GET /outbox`: every accepted message, newest first; with `?psid=…`,
/// what went to that PSID (or device token), oldest first.
async fn outbox(
    AxumState(sandbox): AxumState<Arc<ProviderSandbox>>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(OutboxQuery { psid: Some(psid) })) => Json(sandbox.conversation(&psid)).into_response(),
        Ok(Query(OutboxQuery { psid: None })) => Json(sandbox.outbox()).into_response(),
        Err(rejection) => control::error(StatusCode::BAD_REQUEST, rejection.body_text()),
    }
}

/// `n` random bytes, base64url without padding: token and ID material.
fn random_base64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bearer token of an `Authorization` header, if it has one (the scheme
/// is case-insensitive).
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
