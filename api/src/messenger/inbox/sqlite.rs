//! On an SQLite file, webhook events are written by a thread of their own.
//!
//! The pool's connections (sqlx) each run on a thread of their own too, and
//! every statement is a round trip to it: the task sends the statement and
//! sleeps, the connection's thread wakes, runs it, sends the result and the
//! task wakes again. A webhook transaction (begin, insert the events, queue
//! the senders' jobs, commit) made eight such hand-offs, and on a busy
//! machine the thread wake-ups, not SQLite, were most of what a POST cost.
//!
//! This writer owns one connection to the same database file and takes
//! every post waiting when it wakes: one hand-off to the thread, one
//! transaction for all of them, one answer back to each post. The
//! statements are the ones the pooled path runs (built by the same
//! functions, bound as sqlx binds them), so the rows are the same whichever
//! path wrote them, and rows SQLite refuses are isolated the same way
//! (`group_commit::Isolate`). A post is answered only after its
//! transaction commits.
use std::{
    path::PathBuf,
    str::FromStr as _,
    sync::{Arc, atomic::Ordering, mpsc},
};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OpenFlags, TransactionBehavior, types::Value as Sql};
use sea_orm::{DbBackend, Statement, sea_query::Value, sqlx::sqlite::SqliteConnectOptions};
use tokio::sync::oneshot;

use super::{
    Shared,
    group_commit::{Batch, Isolate, Tried, Waiting, statements},
};
use crate::db::{SQLITE_PRAGMAS, sqlite_busy, sqlite_refuses_the_data};
use entity::messenger_inbox;

/// Hands posts to the writer thread.
pub struct SqliteInbox {
    posts: mpsc::Sender<Waiting>,
}

impl SqliteInbox {
    /// Opens the writer's connection and starts its thread; `None` when the
    /// database is not an SQLite file (PostgreSQL, or SQLite in memory,
    /// which a second connection would not see) or cannot be opened here.
    pub(super) fn start(database_url: &str, shared: Arc<Shared>) -> Option<Self> {
        let path = database_file(database_url)?;
        let connection = match open(&path) {
            Ok(connection) => connection,
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the webhook's own SQLite connection; using the pool");
                return None;
            }
        };
        let (posts, waiting) = mpsc::channel();
        std::thread::Builder::new()
            .name("inbox-writer".into())
            .spawn(move || run(connection, &waiting, &shared))
            .map_err(|err| tracing::warn!(error = %err, "cannot start the webhook's writer thread; using the pool"))
            .ok()?;
        Some(Self { posts })
    }

    /// Answers true once the rows are committed, false if they could not be.
    pub async fn store(&self, rows: Vec<messenger_inbox::ActiveModel>) -> bool {
        let (done, stored) = oneshot::channel();
        if self.posts.send(Waiting { rows, done }).is_err() {
            return false;
        }
        stored.await.unwrap_or(false)
    }
}

/// The file behind an SQLite URL; `None` for anything else.
fn database_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_owned())
}

/// Opened like the pool's connections (the same pragmas and busy handler).
/// The pool created and migrated the file already.
fn open(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_handler(Some(sqlite_busy::wait))?;
    for (key, value) in SQLITE_PRAGMAS {
        connection.execute_batch(&format!("PRAGMA {key} = {value}"))?;
    }
    Ok(connection)
}

/// The thread: waits for a post, takes every other post waiting, writes
/// them in one transaction (or, when SQLite refuses some row, in as many
/// as it takes to isolate it) and answers each. Ends with the inbox (when
/// the sender of posts is dropped).
fn run(mut connection: rusqlite::Connection, waiting: &mpsc::Receiver<Waiting>, shared: &Shared) {
    while let Ok(first) = waiting.recv() {
        let batch = Batch::of(std::iter::once(first).chain(waiting.try_iter()).collect());
        let now = shared.clock.now();
        let mut isolate = Isolate::new(batch.rows.len());
        while let Some(range) = isolate.next() {
            let tried = match write(shared, &mut connection, &batch.rows[range.clone()], now) {
                Ok((new, statements)) => {
                    shared.statements.fetch_add(statements, Ordering::Relaxed);
                    Tried::Stored(new)
                }
                Err(err) if err.refuses_the_data() => Tried::Refused,
                Err(err) => {
                    tracing::error!(error = %err, "storing webhook events failed");
                    Tried::Failed
                }
            };
            isolate.tried(range, tried);
        }
        batch.answer(shared, isolate);
    }
}

/// One transaction (see [`statements`]). Answers how many events were new
/// and how many statements ran.
fn write(
    shared: &Shared,
    connection: &mut rusqlite::Connection,
    rows: &[messenger_inbox::ActiveModel],
    now: DateTime<Utc>,
) -> Result<(u64, u64), WriteError> {
    let statements = statements(shared, rows, now, DbBackend::Sqlite);
    let txn = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = 0;
    for statement in &statements.events {
        new += execute(&txn, statement)? as u64;
    }
    for statement in &statements.jobs {
        execute(&txn, statement)?;
    }
    txn.commit()?;
    Ok((new, statements.len()))
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("a value of a type this writer does not bind: {0:?}")]
    Unsupported(Value),
}

impl WriteError {
    /// Whether SQLite refused the values (see
    /// [`sqlite_refuses_the_data`]); a value this writer cannot bind is a
    /// fault of ours, not of the event.
    fn refuses_the_data(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => sqlite_refuses_the_data(err.extended_code),
            Self::Sqlite(rusqlite::Error::ToSqlConversionFailure(_)) => true,
            Self::Sqlite(_) | Self::Unsupported(_) => false,
        }
    }
}

fn execute(txn: &rusqlite::Transaction<'_>, statement: &Statement) -> Result<usize, WriteError> {
    let values = match &statement.values {
        Some(values) => values.0.iter().map(bind).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut prepared = txn.prepare_cached(&statement.sql)?;
    Ok(prepared.execute(rusqlite::params_from_iter(values))?)
}

/// A value as sqlx binds it for SQLite (`sea-query-sqlx`), so the pool
/// reads back what this writer stored: UUIDs as 16-byte blobs, times as
/// RFC 3339 text, booleans as integers.
fn bind(value: &Value) -> Result<Sql, WriteError> {
    Ok(match value {
        Value::Bool(v) => v.map_or(Sql::Null, |v| Sql::Integer(v.into())),
        Value::Int(v) => v.map_or(Sql::Null, |v| Sql::Integer(v.into())),
        Value::BigInt(v) => v.map_or(Sql::Null, Sql::Integer),
        Value::String(v) => v.clone().map_or(Sql::Null, Sql::Text),
        Value::Uuid(v) => v.map_or(Sql::Null, |v| Sql::Blob(v.as_bytes().to_vec())),
        Value::ChronoDateTimeUtc(v) => v.map_or(Sql::Null, |v| {
            Sql::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        other => return Err(WriteError::Unsupported(other.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_get_a_writer() {
        assert_eq!(
            database_file("sqlite:///tmp/x/send.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/send.db"))
        );
        assert_eq!(
            database_file("sqlite://data/send.db"),
            Some(PathBuf::from("data/send.db"))
        );
        assert_eq!(database_file("sqlite::memory:"), None);
        assert_eq!(database_file("sqlite://shared?mode=memory&cache=shared"), None);
        assert_eq!(database_file("postgres://u:p@h/db"), None);
    }

    #[test]
    fn values_are_bound_as_sqlx_binds_them() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T09:43:37.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            bind(&Value::ChronoDateTimeUtc(Some(at))).unwrap(),
            Sql::Text("2026-11-23T09:43:37.123456+00:00".into())
        );
        assert_eq!(bind(&Value::Uuid(Some(id))).unwrap(), Sql::Blob(id.as_bytes().to_vec()));
        assert_eq!(bind(&Value::Bool(Some(true))).unwrap(), Sql::Integer(1));
        assert_eq!(bind(&Value::String(None)).unwrap(), Sql::Null);
        assert!(bind(&Value::Double(Some(1.0))).is_err());
    }
}
