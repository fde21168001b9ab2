//! Background work, the engine: the durable queue ([`queue`]), the [`Job`]
//! trait every kind of work implements, the [`Registry`] of kinds a
//! process runs, the workers ([`worker::Runner`]) and the [`Jobs`] handle
//! that wakes them.
//!
//! A job is data: its payload struct *is* the job. The struct names its
//! kind ([`Job::KIND`], the `kind` column), its dedupe key, the context it
//! runs with, and its [`run`](Job::run); [`enqueue`](Job::enqueue) stores it
//! (as JSON, in the caller's transaction when there is one). The payload is
//! decoded once, by the registry, into the struct. Which kinds exist is one
//! list, in `startup`.
//!
//! Jobs must be safe to run twice: a lease that runs out hands the job to
//! another worker.
//!
//! This module knows no job kind and nothing above the infrastructure: a
//! job's context is a type parameter (`App` for use cases and edges, a
//! service's own object for a service's jobs).
use std::{future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, InsertMany};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::{Mutex, Notify};

pub mod queue;
mod registry;
pub mod worker;

pub use registry::Registry;

/// A kind of background work. The implementing struct is the payload.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Names the kind in the queue (`jobs.kind`), in logs and in metrics.
    /// Never rename one: queued rows carry it.
    const KIND: &'static str;
    /// What [`run`](Self::run) needs: the registry's state must give it
    /// (`AsRef`).
    type Context: Send + Sync + 'static;

    /// At most one live job per key: a new one is absorbed by the job
    /// already under its key (see [`queue::enqueue`]). `None`: no dedupe.
    fn dedupe_key(&self) -> Option<String>;

    /// Does the work and says what comes next. An `Err` is retried with
    /// backoff (or at its `retry_at`), unless permanent.
    fn run(&self, ctx: &Self::Context) -> impl Future<Output = Result<Outcome, JobError>> + Send;

    /// Queues the job to run at once.
    fn enqueue(&self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> impl Future<Output = Result<(), DbErr>> + Send {
        self.enqueue_at(db, now, now)
    }

    /// Queues the job to run at `run_at` (or earlier, if the job under its
    /// dedupe key is due earlier).
    fn enqueue_at(
        &self,
        db: &impl ConnectionTrait,
        run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send {
        async move {
            let key = self.dedupe_key();
            queue::enqueue(db, Self::KIND, &payload(self), run_at, key.as_deref(), now).await
        }
    }
}

/// The JSON a job is stored as.
fn payload<J: Job>(job: &J) -> serde_json::Value {
    serde_json::to_value(job).expect("a job's payload is plain data")
}

/// A statement that queues jobs, for a caller that runs it itself (in a
/// batch of its own, on a connection of its own).
pub type EnqueueStatement = InsertMany<entity::jobs::ActiveModel>;

/// One statement that queues `jobs` (each with its dedupe key; the keys must
/// differ) to run at once, for a caller that runs it itself.
pub fn enqueue_many_query<J: Job>(jobs: &[J], now: DateTime<Utc>) -> EnqueueStatement {
    let rows: Vec<_> = jobs
        .iter()
        .map(|job| {
            let key = job.dedupe_key().expect("jobs queued together have dedupe keys");
            (payload(job), key)
        })
        .collect();
    queue::enqueue_many_query(J::KIND, &rows, now, now)
}

/// The payloads of the dead jobs of kind `J` (undecodable ones left out).
pub async fn dead<J: Job>(db: &impl ConnectionTrait) -> Result<Vec<J>, DbErr> {
    let payloads = queue::dead_payloads(db, J::KIND).await?;
    Ok(payloads
        .iter()
        .filter_map(|payload| serde_json::from_str(payload).ok())
        .collect())
}

/// What a job says when it ends without error.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Finished: the job leaves the queue.
    Done,
    /// Finished for now: run again at this time.
    RunAt(DateTime<Utc>),
}

/// A failed run: retried with backoff (or at `retry_at`), unless permanent.
#[derive(Debug)]
pub struct JobError {
    pub message: String,
    pub retry_at: Option<DateTime<Utc>>,
    pub permanent: bool,
}

impl JobError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_at: None,
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_at: None,
            permanent: true,
        }
    }
}

impl From<DbErr> for JobError {
    fn from(err: DbErr) -> Self {
        Self::retry(format!("database: {err}"))
    }
}

impl From<crate::error::Error> for JobError {
    fn from(err: crate::error::Error) -> Self {
        match err {
            crate::error::Error::Internal(inner) => Self::retry(format!("{inner:#}")),
            other => Self::retry(other.to_string()),
        }
    }
}

/// The process's handle on its workers, cheap to clone: whoever commits
/// jobs wakes an idle worker with it, so new work does not wait for the
/// poll interval.
#[derive(Clone, Default)]
pub struct Jobs(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// An idle worker waits on this.
    wake: Notify,
    /// One claim at a time in this process: SQLite has one writer, and
    /// workers queueing on its lock only slow each other down.
    claim: Mutex<()>,
}

impl Jobs {
    /// Commits `txn`, which queued jobs, and then wakes an idle worker (not
    /// before: a worker woken early finds nothing and sleeps a whole poll
    /// interval).
    pub async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.wake();
        Ok(())
    }

    /// Wakes an idle worker for jobs already committed (several
    /// transactions' worth, or ones written outside the pool).
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }
}
