//! The Messenger webhook: the subscription handshake, and signed events.
//!
//! A POST is checked before it is parsed: `X-Hub-Signature-256` must be the
//! HMAC-SHA256 of the raw body under the app secret (compared in constant
//! time). Each message or postback is then stored in the inbox, once per
//! message id, and a job per sender is queued; the webhook answers at once
//! and never waits for Spotify, the Send API or a command. Echoes, delivery
//! and read receipts are ignored.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{
    ConnectionTrait as _, DbBackend, EntityTrait as _, QueryTrait as _, Set, Statement, TransactionTrait as _,
    sea_query::OnConflict,
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{inbox, sqlite_inbox::SqliteInbox};
use crate::{app::App, crypto::sha256_hex, error::Result};
use entity::{messenger_inbox, messenger_inbox::Kind};

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

/// The subscription handshake: the challenge when the token matches.
pub fn verify_subscription(
    app: &App,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
) -> Option<String> {
    let expected = app.messenger_verify_token.as_ref()?;
    let matches = token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.expose_secret().as_bytes()));
    (mode == Some("subscribe") && matches).then(|| challenge.unwrap_or_default().to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the signature of the raw body.
pub fn check_signature(app: &App, header: Option<&str>, body: &[u8]) -> Result<(), Refused> {
    let secret = app.messenger_app_secret.as_ref().ok_or(Refused::Signature)?;
    let hex = header
        .and_then(|h| h.strip_prefix("sha256="))
        .ok_or(Refused::Signature)?;
    let signature = decode_hex(hex).ok_or(Refused::Signature)?;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes()).map_err(|_| Refused::Signature)?;
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| Refused::Signature)
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

/// Stores the events of a verified body.
#[tracing::instrument(skip_all)]
pub async fn receive(app: &Arc<App>, body: &[u8]) -> Result<(), Refused> {
    let payload: Payload = serde_json::from_slice(body).map_err(|_| Refused::Malformed)?;
    if payload.object != "page" {
        return Err(Refused::Malformed);
    }
    let now = app.clock.now();
    let rows: Vec<messenger_inbox::ActiveModel> = payload
        .entry
        .into_iter()
        .flat_map(|entry| entry.messaging)
        .filter_map(|event| to_row(event, now))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    app.inbox_writer.store(app, rows).await
}

fn to_row(event: Messaging, now: DateTime<Utc>) -> Option<messenger_inbox::ActiveModel> {
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
    Some(messenger_inbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        mid: Set(mid),
        psid: Set(psid),
        sent_at_ms: Set(event.timestamp),
        kind: Set(kind),
        text: Set(text),
        payload: Set(payload),
        received_at: Set(now),
        handled_at: Set(None),
    })
}

/// Stores the events of webhook posts: on an SQLite file through a writer
/// thread of its own ([`SqliteInbox`], started with the first post),
/// otherwise through the pool ([`GroupCommit`]).
#[derive(Default)]
pub struct InboxWriter {
    sqlite: std::sync::OnceLock<Option<SqliteInbox>>,
    pooled: GroupCommit,
}

impl InboxWriter {
    async fn store(&self, app: &Arc<App>, rows: Vec<messenger_inbox::ActiveModel>) -> Result<(), Refused> {
        match self.sqlite.get_or_init(|| SqliteInbox::start(app)) {
            Some(writer) => {
                if writer.store(rows).await {
                    Ok(())
                } else {
                    Err(Refused::Unavailable)
                }
            }
            None => self.pooled.store(app, rows).await,
        }
    }
}

/// Group commit for the inbox: posts that arrive while a transaction is
/// being written wait, and the next transaction stores all of them (one
/// multi-row insert of the events, one multi-row upsert of the senders'
/// jobs), then answers each. A post is acknowledged only once its events are
/// committed; a failed transaction refuses every post in it (Meta delivers
/// them again). Under load this divides the transactions, statements and
/// WAL writes per post by the number of posts waiting; alone, a post is
/// written at once.
#[derive(Default)]
struct GroupCommit {
    waiting: std::sync::Mutex<Vec<Waiting>>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A post's events, and where to say whether they were stored.
pub(super) struct Waiting {
    pub rows: Vec<messenger_inbox::ActiveModel>,
    pub done: oneshot::Sender<bool>,
}

impl Waiting {
    /// The rows of all these posts, and their answers.
    pub fn split(batch: Vec<Self>) -> (Vec<messenger_inbox::ActiveModel>, Vec<oneshot::Sender<bool>>) {
        let (rows, answers): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.rows, w.done)).unzip();
        (rows.concat(), answers)
    }
}

/// After a batch's transaction (`new`: the events it stored, `None` if it
/// failed): counts the events, wakes a worker and answers every post.
pub(super) fn answer(app: &App, answers: Vec<oneshot::Sender<bool>>, new: Option<u64>) {
    if let Some(new) = new {
        metrics::counter!("messenger_webhook_events_total").increment(new);
        app.jobs.wake();
    }
    metrics::histogram!("messenger_webhook_posts_per_transaction").record(answers.len() as f64);
    for answer in answers {
        let _ = answer.send(new.is_some());
    }
}

/// Rows per INSERT (SQLite allows 32,766 bound values; a row has 9).
const INSERT_ROWS: usize = 1000;

impl GroupCommit {
    async fn store(&self, app: &Arc<App>, rows: Vec<messenger_inbox::ActiveModel>) -> Result<(), Refused> {
        let (done, mut stored) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").push(Waiting { rows, done });
        let writer = self.writer.clone().lock_owned().await;
        // A transaction that began while this one waited may have stored it.
        if let Ok(ok) = stored.try_recv() {
            return if ok { Ok(()) } else { Err(Refused::Unavailable) };
        }
        let batch = std::mem::take(&mut *self.waiting.lock().expect("not poisoned"));
        // Written by a task of its own: a client that hangs up must not cut
        // short the transaction the other posts wait on.
        let app = app.clone();
        tokio::spawn(async move {
            let (rows, answers) = Waiting::split(batch);
            let new = write(&app, rows, app.clock.now()).await.map_err(|err| err.log()).ok();
            drop(writer);
            answer(&app, answers, new);
        });
        match stored.await {
            Ok(true) => Ok(()),
            _ => Err(Refused::Unavailable),
        }
    }
}

/// One transaction (see [`statements`]). Answers how many events were new.
async fn write(app: &App, rows: Vec<messenger_inbox::ActiveModel>, now: DateTime<Utc>) -> Result<u64> {
    let statements = statements(rows, now, app.db.get_database_backend());
    let txn = app.db.begin().await?;
    let mut new = 0;
    for statement in statements.events {
        new += txn.execute_raw(statement).await?.rows_affected();
    }
    for statement in statements.jobs {
        txn.execute_raw(statement).await?;
    }
    txn.commit().await?;
    Ok(new)
}

/// The statements of one transaction, whichever connection runs them.
pub(super) struct Statements {
    /// Insert the events whose `mid` is new, [`INSERT_ROWS`] at a time.
    pub events: Vec<Statement>,
    /// Queue a job for each sender.
    pub jobs: Vec<Statement>,
}

impl Statements {
    pub fn len(&self) -> u64 {
        (self.events.len() + self.jobs.len()) as u64
    }
}

pub(super) fn statements(
    rows: Vec<messenger_inbox::ActiveModel>,
    now: DateTime<Utc>,
    backend: DbBackend,
) -> Statements {
    let mut senders: Vec<String> = rows.iter().filter_map(|r| r.psid.try_as_ref().cloned()).collect();
    senders.sort();
    senders.dedup();
    let mut rows = rows.into_iter().peekable();
    let mut events = Vec::new();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_ROWS).collect();
        let insert = messenger_inbox::Entity::insert_many(chunk)
            .on_conflict(OnConflict::column(messenger_inbox::Column::Mid).do_nothing().to_owned());
        events.push(insert.build(backend));
    }
    let jobs = senders
        .chunks(INSERT_ROWS)
        .map(|chunk| {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            inbox::enqueue_query(&chunk, now).build(backend)
        })
        .collect();
    Statements { events, jobs }
}
