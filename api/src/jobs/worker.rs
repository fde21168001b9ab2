//! Workers: claim due jobs, run them, record how they ended.
//!
//! Each worker keeps up to [`SLOTS`] jobs running: it claims as many due
//! jobs as it has free slots, and claims again as soon as one finishes, so
//! one slow job never holds up the others. With nothing due it sleeps until
//! the poll interval passes or this process commits work (which wakes one
//! worker; a worker that found a full batch wakes the next). On shutdown a
//! worker stops claiming and lets its running jobs finish.
use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use sea_orm::DatabaseConnection;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::{JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;

use super::{Jobs, Outcome, Registry, queue};
use crate::clock::Clock;
use entity::jobs;

/// Jobs a worker runs at once.
pub const SLOTS: usize = 16;

/// Claims [`Runner::run_due`] makes in a row before it gives up, and
/// writes of a job's outcome a worker makes before it leaves the job to
/// its lease.
pub const CLAIM_TRIES: u32 = 10;

/// Runs the registered kinds of job with the state `S`: the workers of one
/// process, and [`run_due`](Self::run_due) for tests.
pub struct Runner<S> {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// What jobs run with (each takes its context from it).
    state: Arc<S>,
    registry: Registry<S>,
    /// Wakes idle workers; holds the process's claim lock.
    jobs: Jobs,
    /// Names this process's workers in job leases (`locked_by`).
    instance: String,
    /// Workers stop claiming when it is cancelled.
    shutdown: CancellationToken,
}

impl<S: Send + Sync + 'static> Runner<S> {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        state: Arc<S>,
        registry: Registry<S>,
        jobs: Jobs,
        shutdown: CancellationToken,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sendsongs".into());
        let instance = format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self {
            db,
            clock,
            state,
            registry,
            jobs,
            instance,
            shutdown,
        }
    }

    /// Starts `count` workers polling every `poll`.
    pub fn start(self: &Arc<Self>, count: usize, poll: Duration) -> Vec<JoinHandle<()>> {
        (0..count)
            .map(|n| {
                let runner = self.clone();
                let name = format!("{}-{n}", runner.instance);
                tokio::spawn(async move { runner.work(name, poll).await })
            })
            .collect()
    }

    async fn work(self: Arc<Self>, name: String, poll: Duration) {
        let slots = Arc::new(Semaphore::new(SLOTS));
        let mut running = JoinSet::new();
        loop {
            // Reap what finished (their permits are already back).
            while running.try_join_next().is_some() {}
            if self.shutdown.is_cancelled() {
                break;
            }
            // Wait for a free slot, then take every other free one too.
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = self.shutdown.cancelled() => break,
            };
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            let wanted = permits.len();
            let claimed = match self.claim(&name, wanted as u64).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(worker = %name, error = %err, "claiming jobs failed");
                    Vec::new()
                }
            };
            if claimed.len() == wanted && wanted == SLOTS {
                // A full batch: there may be more, let another worker look.
                self.jobs.wake();
            }
            let idle = claimed.is_empty();
            // Slots left without a job are freed with the rest of `permits`.
            for (job, permit) in claimed.into_iter().zip(permits) {
                let runner = self.clone();
                running.spawn(async move {
                    let _slot: OwnedSemaphorePermit = permit;
                    runner.execute(&job).await;
                });
            }
            if idle {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = self.jobs.0.wake.notified() => {}
                    () = self.shutdown.cancelled() => break,
                }
            }
        }
        while running.join_next().await.is_some() {}
        tracing::debug!(worker = %name, "worker stopped");
    }

    async fn claim(&self, worker: &str, limit: u64) -> Result<Vec<jobs::Model>, sea_orm::DbErr> {
        let _serial = self.jobs.0.claim.lock().await;
        queue::claim(&self.db, worker, self.clock.now(), limit).await
    }

    /// Claims one batch and runs it to the end; answers how many jobs ran.
    pub async fn run_batch(&self, worker: &str) -> Result<usize, sea_orm::DbErr> {
        let claimed = self.claim(worker, SLOTS as u64).await?;
        let count = claimed.len();
        join_all(claimed.iter().map(|job| self.execute(job))).await;
        Ok(count)
    }

    /// Runs every due job until none is left; answers how many ran. Tests
    /// use it to drive the schedule deterministically. A claim the
    /// database could not run (busy, no free connection) is tried again,
    /// [`CLAIM_TRIES`] times in all, a little later each time: stopping
    /// there would leave due jobs behind as if none were left.
    ///
    /// # Panics
    /// When every one of those claims failed.
    pub async fn run_due(&self) -> usize {
        let mut total = 0;
        let mut failed = 0;
        loop {
            match self.run_batch("inline").await {
                Ok(0) => return total,
                Ok(n) => {
                    total += n;
                    failed = 0;
                }
                Err(err) => {
                    failed += 1;
                    assert!(
                        failed < CLAIM_TRIES,
                        "claiming jobs failed {failed} times in a row: {err}"
                    );
                    tracing::warn!(error = %err, tries = failed, "claiming jobs failed: trying again");
                    tokio::time::sleep(Duration::from_millis(100) * failed).await;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(job_id = %job.id, kind = %job.kind, attempt = job.attempts))]
    async fn execute(&self, job: &jobs::Model) {
        let started = std::time::Instant::now();
        let result = self.registry.run(&self.state, &job.kind, &job.payload).await;
        let now = self.clock.now();
        // A write the database could not run now (busy, no free connection)
        // is tried again at once: otherwise the job waits out its lease.
        let mut tries = 0;
        let label = loop {
            tries += 1;
            let (label, recorded) = self.record(job, &result, now).await;
            match recorded {
                Ok(()) => break label,
                Err(err) if tries < CLAIM_TRIES => {
                    tracing::warn!(error = %err, tries, "recording a job's outcome failed: trying again");
                    tokio::time::sleep(Duration::from_millis(100) * tries).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "recording a job's outcome failed; its lease will expire and it runs again");
                    break label;
                }
            }
        };
        metrics::counter!("jobs_run_total", "kind" => job.kind.clone(), "outcome" => label).increment(1);
        metrics::histogram!("job_duration_seconds", "kind" => job.kind.clone()).record(started.elapsed().as_secs_f64());
    }

    /// Writes how `job` ended; answers the outcome's label and whether it
    /// was written.
    async fn record(
        &self,
        job: &jobs::Model,
        result: &Result<Outcome, super::JobError>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (&'static str, Result<(), sea_orm::DbErr>) {
        match result {
            Ok(Outcome::Done) => ("done", queue::complete(&self.db, job, now).await),
            Ok(Outcome::RunAt(at)) => ("rescheduled", queue::requeue(&self.db, job, *at, now).await),
            Err(err) => {
                let dead = queue::fail(&self.db, job, &err.message, err.retry_at, err.permanent, now).await;
                match &dead {
                    Ok(true) => tracing::error!(error = %err.message, "job failed for good: now dead"),
                    Ok(false) => tracing::warn!(error = %err.message, "job failed: will retry"),
                    Err(_) => {}
                }
                ("failed", dead.map(|_| ()))
            }
        }
    }
}
