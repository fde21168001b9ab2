//! Workers: claim due jobs, run them, record how they ended.
//!
//! Each worker polls the queue (sooner when this process enqueues work) and
//! runs what it claims concurrently. On shutdown a worker stops claiming and
//! lets its running jobs finish.
use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use tokio::task::JoinHandle;

use super::{Outcome, queue};
use crate::app::{App, AppState};
use entity::jobs;

/// Jobs a worker claims at once.
const BATCH: u64 = 16;

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
    loop {
        if app.shutdown.is_cancelled() {
            break;
        }
        let ran = match run_batch(&app, &name).await {
            Ok(ran) => ran,
            Err(err) => {
                tracing::warn!(worker = %name, error = %err, "claiming jobs failed");
                0
            }
        };
        if ran == 0 {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = app.jobs_enqueued.notified() => {}
                () = app.shutdown.cancelled() => break,
            }
        }
    }
    tracing::debug!(worker = %name, "worker stopped");
}

/// Claims one batch and runs it; answers how many jobs ran.
pub async fn run_batch(app: &Arc<App>, worker: &str) -> Result<usize, sea_orm::DbErr> {
    let claimed = {
        // SQLite has one writer: one claim at a time in this process keeps
        // workers from queueing on its lock.
        let _serial = app.claim_lock.lock().await;
        queue::claim(&app.db, worker, app.clock.now(), BATCH).await?
    };
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
