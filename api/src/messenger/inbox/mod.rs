//! The inbox: Messenger events stored before they are handled (the
//! `messenger_inbox` table, only written here).
//!
//! [`Inbox::store`] takes the events of webhook posts and writes them once
//! per message id, with the job that handles each sender's events, in
//! transactions of many posts (`group_commit`; on an SQLite file through a
//! writer thread of its own, `sqlite`); a post is answered once its
//! events are committed. The bot then reads a sender's events oldest first
//! ([`unhandled`]) and marks each handled ([`mark_handled`]).
//!
//! What cannot be stored is *rejected*, never allowed to sink the rest: an
//! event is checked against what its columns hold before it is written
//! ([`check`]: ids too long or with control characters are refused, control
//! characters in text are removed, the same on SQLite and PostgreSQL), and
//! a transaction the database refuses for the values it carries is split
//! until the one row it refuses is found, while every other row of every
//! post in it is stored (`group_commit::Isolate`). A rejection is counted
//! (`messenger_webhook_rejected_total{reason}`) and logged with its reason,
//! never with what the person wrote ([`rejected`]). Only a database that
//! cannot be reached fails a post (Meta delivers it again).
//!
//! Which job handles a sender's events is the bot's business: startup
//! hands the inbox the statement that queues it ([`QueueSenders`]).
use std::sync::{Arc, OnceLock, atomic::AtomicU64};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _, InsertMany, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Set,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::{
    clock::Clock,
    jobs::{EnqueueStatement, Jobs},
};
use entity::{messenger_inbox, messenger_inbox::Kind};

mod group_commit;
mod sqlite;

/// The statement that queues the job of each of these senders (distinct,
/// at least one), to run at once.
pub type QueueSenders = fn(&[String], DateTime<Utc>) -> EnqueueStatement;

/// The longest sender id (PSID) stored (`varchar(64)`); Meta's are 16–17
/// digits.
pub const MAX_PSID: usize = 64;
/// The longest message id stored (`varchar(255)`); Meta's are `m_` and 86
/// characters.
pub const MAX_MID: usize = 255;

/// The longest free text stored in one field (what was written, a
/// payload, a link, a ref), in bytes: the largest event Meta documents
/// (26,000 bytes, the webhook's `MAX_EVENT_BYTES`) cannot carry more, so a
/// longer one is not Meta's.
pub const MAX_TEXT_BYTES: usize = 26_000;

/// An event as the webhook read it.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    /// Meta's message id: a redelivered event is stored once.
    pub mid: String,
    pub psid: String,
    /// Meta's event time in ms.
    pub sent_at_ms: i64,
    pub kind: Kind,
    pub text: Option<String>,
    pub payload: Option<String>,
    /// The message a reply or a reaction is about.
    pub target_mid: Option<String>,
    /// A Spotify link shared as an attachment.
    pub shared_url: Option<String>,
    /// The `ref` of an m.me link or a Get Started button.
    pub referral: Option<String>,
}

/// The events could not be stored (Meta should deliver them again).
#[derive(Debug, thiserror::Error)]
#[error("the events could not be stored")]
pub struct Unstored;

/// Records that an event was not stored, and why: a counter by reason and
/// a warning naming the reason and the kind of event, never its content
/// (what people write, their ids).
pub fn rejected(reason: &'static str, kind: &str) {
    metrics::counter!("messenger_webhook_rejected_total", "reason" => reason).increment(1);
    tracing::warn!(reason, kind, "a webhook event was rejected and not stored");
}

/// Checks an event against what its columns hold, the same on SQLite
/// (which would store anything) and PostgreSQL (which refuses a NUL in
/// text and a string longer than its `varchar`). Identifiers cannot be
/// repaired without risking that two become one, so one that is empty,
/// too long or holds a control character rejects the event; free text
/// (what was written, payloads, links, refs) loses its control characters
/// (but tabs and line breaks) and is kept, unless it is longer than
/// [`MAX_TEXT_BYTES`], which rejects the event. (A lone surrogate escaped
/// in the JSON, `"\ud800"`, was already read as U+FFFD.)
///
/// # Errors
/// The reason the event is rejected.
pub fn check(event: NewEvent) -> Result<NewEvent, &'static str> {
    let id_ok = |id: &str, max: usize| !id.is_empty() && id.chars().count() <= max && !id.chars().any(char::is_control);
    if !id_ok(&event.psid, MAX_PSID) {
        return Err("sender id empty, too long or with control characters");
    }
    if !id_ok(&event.mid, MAX_MID) {
        return Err("message id empty, too long or with control characters");
    }
    if event.target_mid.as_deref().is_some_and(|mid| !id_ok(mid, MAX_MID)) {
        return Err("target message id empty, too long or with control characters");
    }
    let free = [&event.text, &event.payload, &event.shared_url, &event.referral];
    if free.into_iter().flatten().any(|text| text.len() > MAX_TEXT_BYTES) {
        return Err("a text longer than any event Meta sends");
    }
    let clean = |text: Option<String>| text.map(|text| without_control_characters(&text));
    Ok(NewEvent {
        text: clean(event.text),
        payload: clean(event.payload),
        shared_url: clean(event.shared_url),
        referral: clean(event.referral),
        ..event
    })
}

/// `text` without control characters (C0, DEL, C1), but for tab, line feed
/// and carriage return.
fn without_control_characters(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return text.to_owned();
    }
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// The name of a kind, for logs and metrics.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Message => "message",
        Kind::QuickReply => "quick_reply",
        Kind::Postback => "postback",
        Kind::Reply => "reply",
        Kind::Reaction => "reaction",
        Kind::Referral => "referral",
        Kind::Attachment => "attachment",
    }
}

/// The inbox's writers.
pub struct Inbox {
    shared: Arc<Shared>,
    database_url: String,
    /// The SQLite file's writer thread, started with the first post (`None`
    /// on PostgreSQL or an in-memory database).
    sqlite: OnceLock<Option<sqlite::SqliteInbox>>,
    /// The pool's group commit.
    pooled: group_commit::GroupCommit,
}

/// What both writers need.
struct Shared {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// Wakes a worker once a batch is committed.
    jobs: Jobs,
    /// The process's statement counter (the SQLite writer's statements
    /// bypass the pool, which counts its own).
    statements: Arc<AtomicU64>,
    queue_senders: QueueSenders,
}

impl Inbox {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        jobs: Jobs,
        statements: Arc<AtomicU64>,
        database_url: String,
        queue_senders: QueueSenders,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                db,
                clock,
                jobs,
                statements,
                queue_senders,
            }),
            database_url,
            sqlite: OnceLock::new(),
            pooled: group_commit::GroupCommit::default(),
        }
    }

    /// Stores `events` (received at `now`) and their senders' jobs; answers
    /// once they are committed.
    ///
    /// # Errors
    /// [`Unstored`] when the transaction they were in failed.
    pub async fn store(&self, events: Vec<NewEvent>, now: DateTime<Utc>) -> Result<(), Unstored> {
        let rows: Vec<_> = events
            .into_iter()
            .filter_map(|event| {
                let kind = kind_name(event.kind);
                check(event).map_err(|reason| rejected(reason, kind)).ok()
            })
            .map(|event| row(event, now))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let stored = match self
            .sqlite
            .get_or_init(|| sqlite::SqliteInbox::start(&self.database_url, self.shared.clone()))
        {
            Some(writer) => writer.store(rows).await,
            None => self.pooled.store(&self.shared, rows).await,
        };
        if stored { Ok(()) } else { Err(Unstored) }
    }
}

fn row(event: NewEvent, now: DateTime<Utc>) -> messenger_inbox::ActiveModel {
    messenger_inbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        mid: Set(event.mid),
        psid: Set(event.psid),
        sent_at_ms: Set(event.sent_at_ms),
        kind: Set(event.kind),
        text: Set(event.text),
        payload: Set(event.payload),
        received_at: Set(now),
        handled_at: Set(None),
        target_mid: Set(event.target_mid),
        shared_url: Set(event.shared_url),
        referral: Set(event.referral),
    }
}

/// The statement that stores `events`, leaving out those whose message id
/// is stored already (a redelivery).
fn store_new(events: Vec<messenger_inbox::ActiveModel>) -> InsertMany<messenger_inbox::ActiveModel> {
    messenger_inbox::Entity::insert_many(events)
        .on_conflict(OnConflict::column(messenger_inbox::Column::Mid).do_nothing().to_owned())
}

/// A sender's events not handled yet, in the order they were sent.
pub async fn unhandled(db: &impl ConnectionTrait, psid: &str) -> Result<Vec<messenger_inbox::Model>, DbErr> {
    messenger_inbox::Entity::find()
        .filter(messenger_inbox::Column::Psid.eq(psid))
        .filter(messenger_inbox::Column::HandledAt.is_null())
        .order_by_asc(messenger_inbox::Column::SentAtMs)
        .order_by_asc(messenger_inbox::Column::Id)
        .all(db)
        .await
}

/// When `psid` sent the latest event the bot handled already (by Meta's
/// timestamp, never later than `now`), if it ever handled one.
pub async fn last_handled_at(
    db: &impl ConnectionTrait,
    psid: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let last: Option<i64> = messenger_inbox::Entity::find()
        .select_only()
        .column(messenger_inbox::Column::SentAtMs)
        .filter(messenger_inbox::Column::Psid.eq(psid))
        .filter(messenger_inbox::Column::HandledAt.is_not_null())
        .order_by_desc(messenger_inbox::Column::SentAtMs)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.map(|ms| DateTime::from_timestamp_millis(ms).unwrap_or(now).min(now)))
}

/// Marks an event handled.
pub async fn mark_handled(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_inbox::Entity::update_many()
        .col_expr(messenger_inbox::Column::HandledAt, Expr::value(now))
        .filter(messenger_inbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// When an event was sent, by Meta's timestamp; never later than `now`
/// (a sender's clock may run ahead), and `now` if the timestamp is absurd.
pub fn sent_at(event: &messenger_inbox::Model, now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(event.sent_at_ms)
        .unwrap_or(now)
        .min(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(psid: &str, mid: &str, text: &str) -> NewEvent {
        NewEvent {
            mid: mid.into(),
            psid: psid.into(),
            text: Some(text.into()),
            ..NewEvent::default()
        }
    }

    #[test]
    fn control_characters_are_removed_from_text_but_line_breaks_stay() {
        let checked = check(event("1", "m_1", "hello\u{0}world\u{7}\u{1b}[31m\u{85}\tok\r\nbye")).unwrap();
        assert_eq!(checked.text.as_deref(), Some("helloworld[31m\tok\r\nbye"));
        let plain = check(event("1", "m_1", "send it 🎧 to @ben")).unwrap();
        assert_eq!(plain.text.as_deref(), Some("send it 🎧 to @ben"));
    }

    #[test]
    fn ids_that_do_not_fit_reject_the_event() {
        assert!(check(event(&"7".repeat(MAX_PSID), "m_1", "hi")).is_ok());
        assert!(check(event(&"7".repeat(MAX_PSID + 1), "m_1", "hi")).is_err());
        assert!(check(event("", "m_1", "hi")).is_err());
        assert!(check(event("12\u{0}34", "m_1", "hi")).is_err());
        assert!(check(event("1", &"m".repeat(MAX_MID + 1), "hi")).is_err());
        assert!(check(event("1", "m_\u{0}", "hi")).is_err());
        let reaction = NewEvent {
            target_mid: Some("m".repeat(MAX_MID + 1)),
            ..event("1", "m_1", "hi")
        };
        assert!(check(reaction).is_err());
    }
}
