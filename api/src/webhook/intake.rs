//! The webhook's intake: stores the events of many posts per transaction
//! and queues each sender's [`HandleInbox`] job with them, then answers each
//! post once its events are committed.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, QueryTrait as _, Statement, TransactionTrait as _};
use tokio::sync::oneshot;

use super::{Refused, sqlite::SqliteInbox};
use crate::{app::App, bot::inbox::HandleInbox, error::Result, jobs, messenger::inbox};
use entity::messenger_inbox;

/// Stores the events of webhook posts: on an SQLite file through a writer
/// thread of its own ([`SqliteInbox`], started with the first post),
/// otherwise through the pool ([`GroupCommit`]).
#[derive(Default)]
pub struct InboxWriter {
    sqlite: std::sync::OnceLock<Option<SqliteInbox>>,
    pooled: GroupCommit,
}

impl InboxWriter {
    pub(super) async fn store(&self, app: &Arc<App>, rows: Vec<messenger_inbox::ActiveModel>) -> Result<(), Refused> {
        match self.sqlite.get_or_init(|| SqliteInbox::start(app)) {
            Some(writer) => {
                if writer.store(rows).await {
                    Ok(())
                } else {
                    Err(Refused::Unavailable)
                }
            }
            None => self.pooled.store(app, rows).await,
        }
    }
}

/// Group commit for the inbox: posts that arrive while a transaction is
/// being written wait, and the next transaction stores all of them (one
/// multi-row insert of the events, one multi-row upsert of the senders'
/// jobs), then answers each. A post is acknowledged only once its events are
/// committed; a failed transaction refuses every post in it (Meta delivers
/// them again). Under load this divides the transactions, statements and
/// WAL writes per post by the number of posts waiting; alone, a post is
/// written at once.
#[derive(Default)]
struct GroupCommit {
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
pub(super) fn answer(app: &App, answers: Vec<oneshot::Sender<bool>>, new: Option<u64>) {
    if let Some(new) = new {
        metrics::counter!("messenger_webhook_events_total").increment(new);
        app.jobs.wake();
    }
    metrics::histogram!("messenger_webhook_posts_per_transaction").record(answers.len() as f64);
    for answer in answers {
        let _ = answer.send(new.is_some());
    }
}

/// Rows per INSERT (SQLite allows 32,766 bound values; a row has 9).
const INSERT_ROWS: usize = 1000;

impl GroupCommit {
    async fn store(&self, app: &Arc<App>, rows: Vec<messenger_inbox::ActiveModel>) -> Result<(), Refused> {
        let (done, mut stored) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").push(Waiting { rows, done });
        let writer = self.writer.clone().lock_owned().await;
        // A transaction that began while this one waited may have stored it.
        if let Ok(ok) = stored.try_recv() {
            return if ok { Ok(()) } else { Err(Refused::Unavailable) };
        }
        let batch = std::mem::take(&mut *self.waiting.lock().expect("not poisoned"));
        // Written by a task of its own: a client that hangs up must not cut
        // short the transaction the other posts wait on.
        let app = app.clone();
        tokio::spawn(async move {
            let (rows, answers) = Waiting::split(batch);
            let new = write(&app, rows, app.clock.now()).await.map_err(|err| err.log()).ok();
            drop(writer);
            answer(&app, answers, new);
        });
        match stored.await {
            Ok(true) => Ok(()),
            _ => Err(Refused::Unavailable),
        }
    }
}

/// One transaction (see [`statements`]). Answers how many events were new.
async fn write(app: &App, rows: Vec<messenger_inbox::ActiveModel>, now: DateTime<Utc>) -> Result<u64> {
    let statements = statements(rows, now, app.db.get_database_backend());
    let txn = app.db.begin().await?;
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
        events.push(inbox::store_new(chunk).build(backend));
    }
    let jobs = senders
        .chunks(INSERT_ROWS)
        .map(|chunk| {
            let chunk: Vec<HandleInbox> = chunk.iter().map(|psid| HandleInbox { psid: psid.clone() }).collect();
            jobs::enqueue_many_query(&chunk, now).build(backend)
        })
        .collect();
    Statements { events, jobs }
}
