//! Workers: claim due jobs, run them, record how they ended.
//!
//! Each worker keeps up to [`SLOTS`] jobs running: it claims as many due
//! jobs as it has free slots, and claims again as soon as one finishes, so
//! one slow job never holds up the others. With nothing due it sleeps until
//! the poll interval passes or this process enqueues work (which wakes one
//! worker; a worker that found a full batch wakes the next). On shutdown a
//! worker stops claiming and lets its running jobs finish.
use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::{JoinHandle, JoinSet},
};

use super::{Outcome, queue};
use crate::app::{App, AppState};
use entity::jobs;

/// Jobs a worker runs at once.
pub const SLOTS: usize = 16;

pub fn spawn(app: &AppState, count: usize, poll: Duration) -> Vec<JoinHandle<()>> {
    (0..count)
        .map(|n| {
            let app = app.clone();
            let name = format!("{}-{n}", app.instance_id);
            tokio::spawn(async move { work(app, name, poll).await })
        })
        .collect()
}

async fn work(app: AppState, name: String, poll: Duration) {
    let slots = Arc::new(Semaphore::new(SLOTS));
    let mut running = JoinSet::new();
    loop {
        // Reap what finished (their permits are already back).
        while running.try_join_next().is_some() {}
        if app.shutdown.is_cancelled() {
            break;
        }
        // Wait for a free slot, then take every other free one too.
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = app.shutdown.cancelled() => break,
        };
        let mut permits = vec![first];
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            permits.push(permit);
        }
        let wanted = permits.len();
        let claimed = match claim(&app, &name, wanted as u64).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(worker = %name, error = %err, "claiming jobs failed");
                Vec::new()
            }
        };
        if claimed.len() == wanted && wanted == SLOTS {
            // A full batch: there may be more, let another worker look.
            app.jobs_enqueued.notify_one();
        }
        let idle = claimed.is_empty();
        // Slots left without a job are freed with the rest of `permits`.
        for (job, permit) in claimed.into_iter().zip(permits) {
            let app = app.clone();
            running.spawn(async move {
                let _slot: OwnedSemaphorePermit = permit;
                execute(&app, &job).await;
            });
        }
        if idle {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = app.jobs_enqueued.notified() => {}
                () = app.shutdown.cancelled() => break,
            }
        }
    }
    while running.join_next().await.is_some() {}
    tracing::debug!(worker = %name, "worker stopped");
}

async fn claim(app: &App, worker: &str, limit: u64) -> Result<Vec<jobs::Model>, sea_orm::DbErr> {
    // SQLite has one writer: one claim at a time in this process keeps
    // workers from queueing on its lock.
    let _serial = app.claim_lock.lock().await;
    queue::claim(&app.db, worker, app.clock.now(), limit).await
}

/// Claims one batch and runs it to the end; answers how many jobs ran.
pub async fn run_batch(app: &Arc<App>, worker: &str) -> Result<usize, sea_orm::DbErr> {
    let claimed = claim(app, worker, SLOTS as u64).await?;
    let count = claimed.len();
    join_all(claimed.iter().map(|job| execute(app, job))).await;
    Ok(count)
}

/// Runs every due job until none is left; answers how many ran. Tests use
/// it to drive the schedule deterministically.
pub async fn run_due(app: &Arc<App>) -> usize {
    let mut total = 0;
    loop {
        match run_batch(app, "inline").await {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(err) => {
                tracing::warn!(error = %err, "claiming jobs failed");
                return total;
            }
        }
    }
}

#[tracing::instrument(skip_all, fields(job_id = %job.id, kind = %job.kind, attempt = job.attempts))]
async fn execute(app: &App, job: &jobs::Model) {
    let started = std::time::Instant::now();
    let result = super::run(app, job).await;
    let now = app.clock.now();
    let (label, recorded) = match result {
        Ok(Outcome::Done) => ("done", queue::complete(&app.db, job, now).await),
        Ok(Outcome::RunAt(at)) => ("rescheduled", queue::requeue(&app.db, job, at, now).await),
        Err(err) => {
            let dead = queue::fail(&app.db, job, &err.message, err.retry_at, err.permanent, now).await;
            match &dead {
                Ok(true) => tracing::error!(error = %err.message, "job failed for good: now dead"),
                _ => tracing::warn!(error = %err.message, "job failed: will retry"),
            }
            ("failed", dead.map(|_| ()))
        }
    };
    if let Err(err) = recorded {
        tracing::warn!(error = %err, "recording a job's outcome failed; its lease will expire and it runs again");
    }
    metrics::counter!("jobs_run_total", "kind" => job.kind.clone(), "outcome" => label).increment(1);
    metrics::histogram!("job_duration_seconds", "kind" => job.kind.clone()).record(started.elapsed().as_secs_f64());
}
