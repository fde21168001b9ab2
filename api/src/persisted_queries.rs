//! Automatic persisted queries: GraphQL documents by their SHA-256, shared by
//! every replica through the database (the `persisted_queries` table; this
//! module is its door), so a client can send a hash instead of its query.
//!
//! Bounded: past [`PersistedQueries::new`]'s `kept` documents, the least
//! recently used go. Losing one costs a client one round trip (it is told
//! the hash is unknown and sends the query again), so "recently used" is
//! kept coarsely: each replica refreshes a document's `last_used_at` at most
//! once per [`TOUCH_EVERY`]. Documents are immutable (the key is their
//! hash), so each process also keeps the most used in memory (at most
//! [`IN_MEMORY`], and no more than the database keeps) and asks the
//! database only for the others.
use std::{num::NonZeroUsize, sync::Arc, sync::Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use lru::LruCache;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    QueryTrait as _, Set,
    sea_query::{Expr, OnConflict},
};

use crate::{clock::Clock, error::Result};
use entity::persisted_queries::{ActiveModel, Column, Entity};

/// How often a replica refreshes the last use of a document it serves.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::hours(1);
/// Documents each process keeps in memory (a few KiB each).
pub const IN_MEMORY: usize = 1_000;

/// A document this process holds, and when it last refreshed its use in
/// the database.
#[derive(Clone)]
struct Remembered {
    query: Arc<str>,
    touched: DateTime<Utc>,
}

/// The store of persisted queries.
pub struct PersistedQueries {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// At most this many documents stay in the database.
    kept: u64,
    /// By hash, the most used documents.
    memory: Mutex<LruCache<String, Remembered>>,
}

impl PersistedQueries {
    /// `kept`: how many documents the database holds at most.
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, kept: NonZeroUsize) -> Self {
        let in_memory = kept.min(NonZeroUsize::new(IN_MEMORY).expect("not zero"));
        Self {
            db,
            clock,
            kept: kept.get() as u64,
            memory: Mutex::new(LruCache::new(in_memory)),
        }
    }

    /// The document stored under `hash` (lower-case hex SHA-256), if any.
    pub async fn find(&self, hash: &str) -> Result<Option<Arc<str>>> {
        let now = self.clock.now();
        let remembered = self.memory.lock().expect("persisted queries lock").get(hash).cloned();
        if let Some(Remembered { query, touched }) = remembered {
            if now - touched >= TOUCH_EVERY {
                self.touch(hash, now).await?;
                self.remember(hash, query.clone(), now);
            }
            return Ok(Some(query));
        }
        let Some(row) = Entity::find_by_id(hash).one(&self.db).await? else {
            return Ok(None);
        };
        self.touch(hash, now).await?;
        let query: Arc<str> = row.query.into();
        self.remember(hash, query.clone(), now);
        Ok(Some(query))
    }

    /// Stores `query` under `hash` (the caller checked that it is the
    /// query's SHA-256), or marks it used when it is there; then lets the
    /// least recently used go past the cap.
    pub async fn save(&self, hash: &str, query: &str) -> Result<()> {
        let now = self.clock.now();
        let row = ActiveModel {
            hash: Set(hash.to_owned()),
            query: Set(query.to_owned()),
            created_at: Set(now),
            last_used_at: Set(now),
        };
        Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::Hash)
                    .update_column(Column::LastUsedAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        self.remember(hash, query.into(), now);
        self.evict().await
    }

    /// Deletes every document past the `kept` most recently used.
    async fn evict(&self) -> Result<()> {
        let beyond = Entity::find()
            .select_only()
            .column(Column::Hash)
            .order_by_desc(Column::LastUsedAt)
            .order_by_desc(Column::Hash)
            // SQLite needs a LIMIT to have an OFFSET.
            .limit(i64::MAX as u64)
            .offset(self.kept)
            .into_query();
        let gone = Entity::delete_many()
            .filter(Column::Hash.in_subquery(beyond))
            .exec(&self.db)
            .await?;
        if gone.rows_affected > 0 {
            tracing::debug!(
                gone = gone.rows_affected,
                "least recently used persisted queries let go"
            );
        }
        Ok(())
    }

    async fn touch(&self, hash: &str, now: DateTime<Utc>) -> Result<()> {
        Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(now))
            .filter(Column::Hash.eq(hash))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    fn remember(&self, hash: &str, query: Arc<str>, now: DateTime<Utc>) {
        self.memory
            .lock()
            .expect("persisted queries lock")
            .put(hash.to_owned(), Remembered { query, touched: now });
    }
}
