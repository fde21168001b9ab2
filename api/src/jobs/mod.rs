//! Background work: the durable queue ([`queue`]), the workers that run it
//! ([`worker`]), and the one list of job kinds ([`run`]).
//!
//! A job kind is data: a name and a payload (its arguments, JSON), and code
//! that runs it and says what comes next. Jobs must be safe to run twice:
//! a lease that runs out hands the job to another worker.
use chrono::{DateTime, Utc};

use crate::app::App;
use entity::jobs;

pub mod queue;
pub mod worker;

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

impl From<sea_orm::DbErr> for JobError {
    fn from(err: sea_orm::DbErr) -> Self {
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

/// The registry: every job kind, by name.
pub async fn run(app: &App, job: &jobs::Model) -> Result<Outcome, JobError> {
    match job.kind.as_str() {
        crate::detection::check::KIND => {
            let payload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::permanent(format!("unreadable payload: {e}")))?;
            crate::detection::check::run(app, payload).await
        }
        crate::detection::sweep::KIND => crate::detection::sweep::run(app).await,
        crate::notify::send::KIND => {
            let payload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::permanent(format!("unreadable payload: {e}")))?;
            crate::notify::send::run(app, payload).await
        }
        crate::messenger::inbox::KIND => {
            let payload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::permanent(format!("unreadable payload: {e}")))?;
            crate::messenger::inbox::run(app, payload).await
        }
        crate::messenger::replies::KIND => {
            let payload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::permanent(format!("unreadable payload: {e}")))?;
            crate::messenger::replies::send(app, payload).await
        }
        other => Err(JobError::permanent(format!("no job kind named `{other}`"))),
    }
}
