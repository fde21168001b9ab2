//! The durable job queue, in the same database as everything else.
//!
//! A job is a row. Workers *claim* due jobs by taking a lease (`locked_by`,
//! `locked_until`): on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so any
//! number of workers in any number of processes never take the same job; on
//! SQLite the claim is one statement under its single writer lock. A worker
//! that dies loses nothing: its lease runs out and another worker takes
//! the job. Finishing, rescheduling and failing are guarded by the lease
//! holder's id, so a worker whose lease was taken over cannot overwrite the
//! new holder's work.
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbBackend, EntityTrait as _, InsertMany, QueryFilter as _, QuerySelect as _,
    Set, Statement,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use entity::{jobs, jobs::Status};

/// How long a claimed job is a worker's before others may take it over.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Attempts before a failing job is declared dead.
pub const MAX_ATTEMPTS: i32 = 8;
const BACKOFF_BASE: TimeDelta = TimeDelta::seconds(5);
const BACKOFF_CAP: TimeDelta = TimeDelta::hours(1);

/// Puts a job in the queue. With a `dedupe_key`, an existing job under that
/// key absorbs this one: a queued job runs at the earlier of the two times,
/// a running one is marked to run again as soon as it finishes, a dead one
/// comes back to life.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: &str,
    payload: &serde_json::Value,
    run_at: DateTime<Utc>,
    dedupe_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let mut insert = jobs::Entity::insert(row(kind, payload, run_at, dedupe_key, now));
    if dedupe_key.is_some() {
        insert = insert.on_conflict(absorb());
    }
    insert.exec_without_returning(db).await?;
    Ok(())
}

/// [`enqueue`] for many jobs of one kind, each with its dedupe key, in one
/// statement. The keys must differ from each other.
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    kind: &str,
    jobs: &[(serde_json::Value, String)],
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    if jobs.is_empty() {
        return Ok(());
    }
    enqueue_many_query(kind, jobs, run_at, now)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The statement of [`enqueue_many`], for a caller that runs it itself.
pub fn enqueue_many_query(
    kind: &str,
    jobs: &[(serde_json::Value, String)],
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> InsertMany<jobs::ActiveModel> {
    let rows = jobs
        .iter()
        .map(|(payload, key)| row(kind, payload, run_at, Some(key), now));
    jobs::Entity::insert_many(rows).on_conflict(absorb())
}

fn row(
    kind: &str,
    payload: &serde_json::Value,
    run_at: DateTime<Utc>,
    dedupe_key: Option<&str>,
    now: DateTime<Utc>,
) -> jobs::ActiveModel {
    jobs::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        dedupe_key: Set(dedupe_key.map(str::to_owned)),
        status: Set(Status::Queued),
        run_at: Set(run_at),
        attempts: Set(0),
        locked_by: Set(None),
        locked_until: Set(None),
        dirty: Set(false),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// How a job already under the same dedupe key absorbs a new one.
fn absorb() -> OnConflict {
    OnConflict::column(jobs::Column::DedupeKey)
        .value(
            jobs::Column::RunAt,
            Expr::cust(
                "CASE WHEN jobs.status = 'dead' OR (jobs.status = 'queued' AND excluded.run_at < jobs.run_at) \
                 THEN excluded.run_at ELSE jobs.run_at END",
            ),
        )
        .value(
            jobs::Column::Dirty,
            Expr::cust("CASE WHEN jobs.status = 'running' THEN TRUE ELSE jobs.dirty END"),
        )
        .value(
            jobs::Column::Attempts,
            Expr::cust("CASE WHEN jobs.status = 'dead' THEN 0 ELSE jobs.attempts END"),
        )
        .value(
            jobs::Column::Status,
            Expr::cust("CASE WHEN jobs.status = 'dead' THEN 'queued' ELSE jobs.status END"),
        )
        .value(jobs::Column::UpdatedAt, Expr::cust("excluded.updated_at"))
        // A job that already covers the new one (queued to run no later,
        // or running and already marked to run again) is left as it is:
        // under a burst of one sender's messages this writes no page.
        .action_and_where(Expr::cust(
            "NOT ((jobs.status = 'queued' AND jobs.run_at <= excluded.run_at) OR (jobs.status = 'running' AND jobs.dirty))",
        ))
        .to_owned()
}

/// Takes up to `limit` due jobs (queued and due, or running with an expired
/// lease) for `worker`, oldest `run_at` first.
///
/// Each half is read in index order (`idx_jobs_due`: status, run_at) and
/// stops after `limit` rows, so a claim costs the same with 10 or 100,000
/// jobs waiting; one `OR` over both would make the database read and sort
/// the whole due backlog on every claim.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<jobs::Model>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    // Same statement on both; PostgreSQL adds SKIP LOCKED so concurrent
    // claimers pass over each other's rows instead of waiting. (Rows locked
    // by a half but left out by the final LIMIT are free again when the
    // statement ends.)
    let sql = match backend {
        DbBackend::Postgres => {
            "WITH lapsed AS (SELECT id, run_at FROM jobs WHERE status = 'running' AND locked_until < $3 \
             ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED), \
             due AS (SELECT id, run_at FROM jobs WHERE status = 'queued' AND run_at <= $3 \
             ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED), \
             picked AS (SELECT id FROM (SELECT id, run_at FROM lapsed UNION ALL SELECT id, run_at FROM due) AS c \
             ORDER BY run_at LIMIT $4) \
             UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id IN (SELECT id FROM picked) RETURNING *"
        }
        _ => {
            "UPDATE jobs SET status = 'running', locked_by = ?1, locked_until = ?2, attempts = attempts + 1, \
             updated_at = ?3 WHERE id IN (SELECT id FROM ( \
             SELECT id, run_at FROM (SELECT id, run_at FROM jobs WHERE status = 'running' AND locked_until < ?3 \
             ORDER BY run_at LIMIT ?4) \
             UNION ALL SELECT id, run_at FROM (SELECT id, run_at FROM jobs WHERE status = 'queued' AND run_at <= ?3 \
             ORDER BY run_at LIMIT ?4)) ORDER BY run_at LIMIT ?4) RETURNING *"
        }
    };
    let statement = Statement::from_sql_and_values(
        backend,
        sql,
        [
            worker.into(),
            (now + LEASE).into(),
            now.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    );
    jobs::Entity::find().from_raw_sql(statement).all(db).await
}

/// The job is finished: it leaves the queue, unless an enqueue marked it
/// to run again meanwhile.
pub async fn complete(db: &impl ConnectionTrait, job: &jobs::Model, now: DateTime<Utc>) -> Result<(), sea_orm::DbErr> {
    let deleted = jobs::Entity::delete_many()
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::LockedBy.eq(job.locked_by.clone()))
        .filter(jobs::Column::Dirty.eq(false))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        requeue(db, job, now, now).await?;
    }
    Ok(())
}

/// The job is done for now and runs again at `run_at` (or at once if it was
/// marked dirty meanwhile).
pub async fn requeue(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(Status::Queued))
        .col_expr(
            jobs::Column::RunAt,
            Expr::case(jobs::Column::Dirty.eq(true), Expr::value(now))
                .finally(Expr::value(run_at))
                .into(),
        )
        .col_expr(jobs::Column::Dirty, Expr::value(false))
        .col_expr(jobs::Column::Attempts, Expr::value(0))
        .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(jobs::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::LockedBy.eq(job.locked_by.clone()))
        .exec(db)
        .await?;
    Ok(())
}

/// The job failed: it is retried later (at `retry_at`, or after an
/// exponential backoff with full jitter), or declared dead with its error
/// kept once it has used up its attempts or the error is permanent.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: &jobs::Model,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    permanent: bool,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let dead = permanent || job.attempts >= MAX_ATTEMPTS;
    let run_at = retry_at.unwrap_or_else(|| now + backoff(job.attempts));
    jobs::Entity::update_many()
        .col_expr(
            jobs::Column::Status,
            Expr::value(if dead { Status::Dead } else { Status::Queued }),
        )
        .col_expr(jobs::Column::RunAt, Expr::value(run_at))
        .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(
            jobs::Column::LastError,
            Expr::value(error.chars().take(2000).collect::<String>()),
        )
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::LockedBy.eq(job.locked_by.clone()))
        .exec(db)
        .await?;
    Ok(dead)
}

/// The payloads of the dead jobs of one kind.
pub async fn dead_payloads(db: &impl ConnectionTrait, kind: &str) -> Result<Vec<String>, sea_orm::DbErr> {
    jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Payload)
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::Status.eq(Status::Dead))
        .into_tuple()
        .all(db)
        .await
}

/// Full jitter: a random wait up to `base · 2^(attempt-1)`, capped.
pub fn backoff(attempt: i32) -> TimeDelta {
    let exponent = attempt.clamp(1, 20) - 1;
    let ceiling = (BACKOFF_BASE * 2i32.pow(exponent as u32)).min(BACKOFF_CAP);
    let millis = rand::rng().random_range(0..=ceiling.num_milliseconds().max(1));
    TimeDelta::milliseconds(millis.max(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..100 {
            assert!(backoff(1) <= BACKOFF_BASE);
            assert!(backoff(3) <= BACKOFF_BASE * 4);
            assert!(backoff(30) <= BACKOFF_CAP);
        }
    }
}
