//! Throttles kept in the database (the `throttles` table), so that a burst
//! of requests on any number of replicas is counted exactly.
//!
//! A key (`login-email:sam@example.com`, `link-code:<psid>`, …) has a window
//! that opens with its first attempt and lasts [`Limit::window`]; within it
//! at most [`Limit::max`] attempts are allowed. [`attempt`] counts an
//! attempt *before* the work it guards (a password check, a code lookup, a
//! call to Spotify) and answers whether to go on, in one statement: an
//! upsert that locks the key's row on PostgreSQL and runs under SQLite's
//! single write lock, so two requests can never both read "4 of 5" and both
//! go on. Work that succeeded can give its attempts back ([`forget`],
//! [`refund`]).
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// How many attempts a key may make in a window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i32,
    pub window: TimeDelta,
}

/// Whether an attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: this was attempt number `count` of the window (counting its
    /// cost).
    Allowed { count: i32 },
    /// Too many: the window reopens after `retry_after` (at least a second).
    Refused { retry_after: Duration },
}

/// Counts `cost` attempts for `key` at `now` and answers whether they are
/// within `limit`. Refused attempts are counted too (they change nothing
/// until the window ends).
///
/// # Errors
/// The database's.
pub async fn attempt(
    db: &impl ConnectionTrait,
    key: &str,
    limit: Limit,
    cost: i32,
    now: DateTime<Utc>,
) -> Result<Verdict, DbErr> {
    let backend = db.get_database_backend();
    let sql = "INSERT INTO throttles (key, window_started_at, attempts) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET \
         window_started_at = CASE WHEN throttles.window_started_at <= ?4 \
             THEN excluded.window_started_at ELSE throttles.window_started_at END, \
         attempts = CASE WHEN throttles.window_started_at <= ?4 \
             THEN excluded.attempts ELSE throttles.attempts + excluded.attempts END \
         RETURNING window_started_at, attempts";
    let statement = Statement::from_sql_and_values(
        backend,
        placeholders(backend, sql),
        [key.into(), now.into(), cost.into(), (now - limit.window).into()],
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the throttle's upsert returned no row".into()))?;
    let opened: DateTime<Utc> = row.try_get("", "window_started_at")?;
    let count: i32 = row.try_get("", "attempts")?;
    prune_now_and_then(db, now).await?;
    if count <= limit.max {
        return Ok(Verdict::Allowed { count });
    }
    let retry_after = (opened + limit.window - now).to_std().unwrap_or_default();
    Ok(Verdict::Refused {
        retry_after: retry_after.max(Duration::from_secs(1)),
    })
}

/// Gives back `cost` attempts of `key` (an attempt that turned out fine,
/// or was not made after all).
///
/// # Errors
/// The database's.
pub async fn refund(db: &impl ConnectionTrait, key: &str, cost: i32) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = "UPDATE throttles SET attempts = CASE WHEN attempts > ?2 THEN attempts - ?2 ELSE 0 END WHERE key = ?1";
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        placeholders(backend, sql),
        [key.into(), cost.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets `key`'s window (a log-in that succeeded starts over).
///
/// # Errors
/// The database's.
pub async fn forget(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        placeholders(backend, "DELETE FROM throttles WHERE key = ?1"),
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// Windows older than this are of no use to any limit.
const KEEP: TimeDelta = TimeDelta::days(1);

/// About once in [`PRUNE_ONE_IN`] attempts, deletes the windows older than
/// [`KEEP`], so keys seen once (an address, a guessed email) do not pile up.
const PRUNE_ONE_IN: u32 = 512;

async fn prune_now_and_then(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), DbErr> {
    if rand::random_range(0..PRUNE_ONE_IN) != 0 {
        return Ok(());
    }
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        placeholders(backend, "DELETE FROM throttles WHERE window_started_at < ?1"),
        [(now - KEEP).into()],
    ))
    .await?;
    Ok(())
}

/// `sql` with `?N` placeholders, as the backend writes them (`$N` on
/// PostgreSQL).
pub fn placeholders(backend: DbBackend, sql: &str) -> String {
    match backend {
        DbBackend::Postgres => sql.replace('?', "$"),
        _ => sql.to_owned(),
    }
}
