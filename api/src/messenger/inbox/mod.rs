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
//! Which job handles a sender's events is the bot's business: startup
//! hands the inbox the statement that queues it ([`QueueSenders`]).
use std::sync::{Arc, OnceLock, atomic::AtomicU64};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _, InsertMany, QueryFilter as _,
    QueryOrder as _, Set,
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

/// An event as the webhook read it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Meta's message id: a redelivered event is stored once.
    pub mid: String,
    pub psid: String,
    /// Meta's event time in ms.
    pub sent_at_ms: i64,
    pub kind: Kind,
    pub text: Option<String>,
    pub payload: Option<String>,
}

/// The events could not be stored (Meta should deliver them again).
#[derive(Debug, thiserror::Error)]
#[error("the events could not be stored")]
pub struct Unstored;

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
        let rows = events.into_iter().map(|event| row(event, now)).collect();
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
