//! The kinds of job a process runs, by name: each entry decodes the stored
//! payload into its struct (once) and runs it with its context.
use std::collections::HashMap;

use futures_util::future::BoxFuture;

use super::{Job, JobError, Outcome};

/// Runs one stored payload of one kind with the state `S`.
type RunFn<S> = for<'a> fn(&'a S, &'a str) -> BoxFuture<'a, Result<Outcome, JobError>>;

/// Every kind of job, registered once at start-up with
/// [`register`](Self::register); `S` is the state workers hand to jobs.
pub struct Registry<S> {
    kinds: HashMap<&'static str, RunFn<S>>,
}

impl<S: Send + Sync + 'static> Default for Registry<S> {
    fn default() -> Self {
        Self { kinds: HashMap::new() }
    }
}

impl<S: Send + Sync + 'static> Registry<S> {
    /// Adds `J`. Panics if another type already registered its kind: two
    /// types must not read each other's rows.
    pub fn register<J: Job>(mut self) -> Self
    where
        S: AsRef<J::Context>,
    {
        let previous = self.kinds.insert(J::KIND, run::<S, J>);
        assert!(previous.is_none(), "two job types are named `{}`", J::KIND);
        self
    }

    /// The registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    /// Runs a stored job. An unknown kind or an unreadable payload is a
    /// permanent error: retrying cannot fix it.
    pub async fn run(&self, state: &S, kind: &str, payload: &str) -> Result<Outcome, JobError> {
        match self.kinds.get(kind) {
            Some(run) => run(state, payload).await,
            None => Err(JobError::permanent(format!("no job kind named `{kind}`"))),
        }
    }
}

fn run<'a, S, J>(state: &'a S, payload: &'a str) -> BoxFuture<'a, Result<Outcome, JobError>>
where
    S: AsRef<J::Context> + Send + Sync,
    J: Job,
{
    Box::pin(async move {
        let job: J =
            serde_json::from_str(payload).map_err(|e| JobError::permanent(format!("unreadable payload: {e}")))?;
        job.run(state.as_ref()).await
    })
}
