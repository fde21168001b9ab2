//! Group commit for the inbox on the pool: many posts per transaction.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, QueryTrait as _, Statement};
use tokio::sync::oneshot;

use super::{Shared, store_new};
use entity::messenger_inbox;

/// Group commit for the inbox: posts that arrive while a transaction is
/// being written wait, and the next transaction stores all of them (one
/// multi-row insert of the events, one multi-row upsert of the senders'
/// jobs), then answers each. A post is acknowledged only once its events are
/// committed; a failed transaction refuses every post in it (Meta delivers
/// them again). Under load this divides the transactions, statements and
/// WAL writes per post by the number of posts waiting; alone, a post is
/// written at once.
#[derive(Default)]
pub(super) struct GroupCommit {
    waiting: std::sync::Mutex<Vec<Waiting>>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A post's events, and where to say whether they were stored.
pub(super) struct Waiting {
    pub rows: Vec<messenger_inbox::ActiveModel>,
    pub done: oneshot::Sender<bool>,
}

impl Waiting {
    /// The rows of all these posts, and their answers.
    pub fn split(batch: Vec<Self>) -> (Vec<messenger_inbox::ActiveModel>, Vec<oneshot::Sender<bool>>) {
        let (rows, answers): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.rows, w.done)).unzip();
        (rows.concat(), answers)
    }
}

/// After a batch's transaction (`new`: the events it stored, `None` if it
/// failed): counts the events, wakes a worker and answers every post.
pub(super) fn answer(shared: &Shared, answers: Vec<oneshot::Sender<bool>>, new: Option<u64>) {
    if let Some(new) = new {
        metrics::counter!("messenger_webhook_events_total").increment(new);
        shared.jobs.wake();
    }
    metrics::histogram!("messenger_webhook_posts_per_transaction").record(answers.len() as f64);
    for answer in answers {
        let _ = answer.send(new.is_some());
    }
}

/// Rows per INSERT (SQLite allows 32,766 bound values; a row has 9).
const INSERT_ROWS: usize = 1000;

impl GroupCommit {
    /// Answers true once the rows are committed, false if they could not be.
    pub(super) async fn store(&self, shared: &Arc<Shared>, rows: Vec<messenger_inbox::ActiveModel>) -> bool {
        let (done, mut stored) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").push(Waiting { rows, done });
        let writer = self.writer.clone().lock_owned().await;
        // A transaction that began while this one waited may have stored it.
        if let Ok(ok) = stored.try_recv() {
            return ok;
        }
        let batch = std::mem::take(&mut *self.waiting.lock().expect("not poisoned"));
        // Written by a task of its own: a client that hangs up must not cut
        // short the transaction the other posts wait on.
        let shared = shared.clone();
        tokio::spawn(async move {
            let (rows, answers) = Waiting::split(batch);
            let new = write(&shared, rows, shared.clock.now())
                .await
                .map_err(|err| tracing::error!(error = %err, "storing webhook events failed"))
                .ok();
            drop(writer);
            answer(&shared, answers, new);
        });
        stored.await.unwrap_or(false)
    }
}

/// One transaction (see [`statements`]). Answers how many events were new.
async fn write(shared: &Shared, rows: Vec<messenger_inbox::ActiveModel>, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let statements = statements(shared, rows, now, shared.db.get_database_backend());
    let txn = crate::db::begin(&shared.db).await?;
    let mut new = 0;
    for statement in statements.events {
        new += txn.execute_raw(statement).await?.rows_affected();
    }
    for statement in statements.jobs {
        txn.execute_raw(statement).await?;
    }
    txn.commit().await?;
    Ok(new)
}

/// The statements of one transaction, whichever connection runs them.
pub(super) struct Statements {
    /// Insert the events whose `mid` is new, [`INSERT_ROWS`] at a time.
    pub events: Vec<Statement>,
    /// Queue a job for each sender.
    pub jobs: Vec<Statement>,
}

impl Statements {
    pub fn len(&self) -> u64 {
        (self.events.len() + self.jobs.len()) as u64
    }
}

pub(super) fn statements(
    shared: &Shared,
    rows: Vec<messenger_inbox::ActiveModel>,
    now: DateTime<Utc>,
    backend: DbBackend,
) -> Statements {
    let mut senders: Vec<String> = rows.iter().filter_map(|r| r.psid.try_as_ref().cloned()).collect();
    senders.sort();
    senders.dedup();
    let mut rows = rows.into_iter().peekable();
    let mut events = Vec::new();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_ROWS).collect();
        events.push(store_new(chunk).build(backend));
    }
    let jobs = senders
        .chunks(INSERT_ROWS)
        .map(|chunk| (shared.queue_senders)(chunk, now).build(backend))
        .collect();
    Statements { events, jobs }
}
