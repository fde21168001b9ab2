//! Group commit for the inbox on the pool: many posts per transaction, and
//! the rows the database refuses isolated from the rest.
use std::{ops::Range, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, QueryTrait as _, Statement};
use tokio::sync::oneshot;

use super::{Shared, rejected, store_new};
use crate::db::refuses_the_data;
use entity::messenger_inbox;

/// Group commit for the inbox: posts that arrive while a transaction is
/// being written wait, and the next transaction stores all of them (one
/// multi-row insert of the events, one multi-row upsert of the senders'
/// jobs), then answers each. A post is acknowledged only once its events are
/// committed. Under load this divides the transactions, statements and WAL
/// writes per post by the number of posts waiting; alone, a post is written
/// at once. When the database refuses the transaction for the values it
/// carries, [`Isolate`] finds the rows it refuses and stores the others; a
/// transaction that fails for any other reason fails the posts whose rows
/// it held (Meta delivers them again).
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

/// The posts one writer takes at once: all their rows, which post each row
/// belongs to, and where to answer each post.
pub(super) struct Batch {
    pub rows: Vec<messenger_inbox::ActiveModel>,
    /// `posts[i]`: the index in `answers` of the post row `i` came in.
    posts: Vec<usize>,
    answers: Vec<oneshot::Sender<bool>>,
}

impl Batch {
    pub fn of(waiting: Vec<Waiting>) -> Self {
        let mut batch = Self {
            rows: Vec::new(),
            posts: Vec::new(),
            answers: Vec::with_capacity(waiting.len()),
        };
        for (post, Waiting { rows, done }) in waiting.into_iter().enumerate() {
            batch.posts.extend(std::iter::repeat_n(post, rows.len()));
            batch.rows.extend(rows);
            batch.answers.push(done);
        }
        batch
    }

    /// Counts what was stored and refused, wakes a worker when something
    /// was stored, and answers every post: stored, unless one of its rows
    /// was in a transaction that failed.
    pub fn answer(self, shared: &Shared, isolated: Isolate) {
        if isolated.new > 0 {
            metrics::counter!("messenger_webhook_events_total").increment(isolated.new);
            shared.jobs.wake();
        }
        for _ in &isolated.refused {
            rejected("the database refused it", "event");
        }
        metrics::histogram!("messenger_webhook_posts_per_transaction").record(self.answers.len() as f64);
        let mut ok = vec![true; self.answers.len()];
        for row in isolated.failed {
            ok[self.posts[row]] = false;
        }
        for (answer, ok) in self.answers.into_iter().zip(ok) {
            let _ = answer.send(ok);
        }
    }
}

/// How one transaction over some rows ended.
#[derive(Debug)]
pub(super) enum Tried {
    /// Committed: how many of its events were new.
    Stored(u64),
    /// The database refused the values (the same rows would be refused
    /// again).
    Refused,
    /// Anything else: the database is unreachable, busy, …
    Failed,
}

impl Tried {
    pub fn of(result: Result<u64, DbErr>) -> Self {
        match result {
            Ok(new) => Self::Stored(new),
            Err(err) if refuses_the_data(&err) => Self::Refused,
            Err(err) => {
                tracing::error!(error = %err, "storing webhook events failed");
                Self::Failed
            }
        }
    }
}

/// Writes a batch's rows a transaction at a time, first all of them; when
/// the database refuses a transaction for its values, each half is tried on
/// its own, down to the one row it refuses, which is rejected: one bad row
/// among 1,000 costs some 20 transactions and loses nothing else. A
/// transaction that fails for another reason ends it: its rows and those not
/// tried yet fail (their posts are not acknowledged).
#[derive(Debug, Default)]
pub(super) struct Isolate {
    /// Ranges of rows still to try, the next last.
    pending: Vec<Range<usize>>,
    /// Rows refused on their own.
    pub refused: Vec<usize>,
    /// Rows that were in a failed transaction, or never tried.
    pub failed: Vec<usize>,
    /// Events stored that were new.
    pub new: u64,
}

impl Isolate {
    pub fn new(rows: usize) -> Self {
        Self {
            pending: std::iter::once(0..rows).filter(|all| !all.is_empty()).collect(),
            ..Self::default()
        }
    }

    /// The rows to try in the next transaction.
    pub fn next(&mut self) -> Option<Range<usize>> {
        self.pending.pop()
    }

    /// What the transaction over `rows` came to.
    pub fn tried(&mut self, rows: Range<usize>, tried: Tried) {
        match tried {
            Tried::Stored(new) => self.new += new,
            Tried::Refused if rows.len() == 1 => self.refused.push(rows.start),
            Tried::Refused => {
                let middle = rows.start + rows.len() / 2;
                self.pending.push(middle..rows.end);
                self.pending.push(rows.start..middle);
            }
            Tried::Failed => {
                self.failed.extend(rows);
                for range in self.pending.drain(..) {
                    self.failed.extend(range);
                }
            }
        }
    }
}

/// Rows per INSERT (SQLite allows 32,766 bound values; a row has 12).
const INSERT_ROWS: usize = 1000;

impl GroupCommit {
    /// Answers true once the rows are committed (or rejected), false if
    /// they could not be.
    pub(super) async fn store(&self, shared: &Arc<Shared>, rows: Vec<messenger_inbox::ActiveModel>) -> bool {
        let (done, mut stored) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").push(Waiting { rows, done });
        let writer = self.writer.clone().lock_owned().await;
        // A transaction that began while this one waited may have stored it.
        if let Ok(ok) = stored.try_recv() {
            return ok;
        }
        let waiting = std::mem::take(&mut *self.waiting.lock().expect("not poisoned"));
        // Written by a task of its own: a client that hangs up must not cut
        // short the transaction the other posts wait on.
        let shared = shared.clone();
        tokio::spawn(async move {
            let batch = Batch::of(waiting);
            let now = shared.clock.now();
            let mut isolate = Isolate::new(batch.rows.len());
            while let Some(range) = isolate.next() {
                let tried = Tried::of(write(&shared, &batch.rows[range.clone()], now).await);
                isolate.tried(range, tried);
            }
            drop(writer);
            batch.answer(&shared, isolate);
        });
        stored.await.unwrap_or(false)
    }
}

/// One transaction (see [`statements`]). Answers how many events were new.
async fn write(shared: &Shared, rows: &[messenger_inbox::ActiveModel], now: DateTime<Utc>) -> Result<u64, DbErr> {
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
    rows: &[messenger_inbox::ActiveModel],
    now: DateTime<Utc>,
    backend: DbBackend,
) -> Statements {
    let mut senders: Vec<String> = rows.iter().filter_map(|r| r.psid.try_as_ref().cloned()).collect();
    senders.sort();
    senders.dedup();
    let events = rows
        .chunks(INSERT_ROWS)
        .map(|chunk| store_new(chunk.to_vec()).build(backend))
        .collect();
    let jobs = senders
        .chunks(INSERT_ROWS)
        .map(|chunk| (shared.queue_senders)(chunk, now).build(backend))
        .collect();
    Statements { events, jobs }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the isolation over `rows` rows, the database refusing any
    /// transaction holding one of `bad`, and failing every transaction from
    /// the `down`-th on.
    fn isolate(rows: usize, bad: &[usize], down: Option<usize>) -> (Isolate, usize) {
        let mut isolate = Isolate::new(rows);
        let mut transactions = 0;
        while let Some(range) = isolate.next() {
            transactions += 1;
            let tried = if down.is_some_and(|d| transactions >= d) {
                Tried::Failed
            } else if bad.iter().any(|b| range.contains(b)) {
                Tried::Refused
            } else {
                Tried::Stored(range.len() as u64)
            };
            isolate.tried(range, tried);
        }
        (isolate, transactions)
    }

    #[test]
    fn a_refused_row_is_found_and_everything_else_stored() {
        let (isolated, transactions) = isolate(1000, &[417], None);
        assert_eq!(isolated.refused, vec![417]);
        assert_eq!(isolated.new, 999);
        assert!(isolated.failed.is_empty());
        assert!(transactions <= 21, "{transactions} transactions");

        let (isolated, _) = isolate(7, &[0, 6], None);
        let mut refused = isolated.refused.clone();
        refused.sort();
        assert_eq!(refused, vec![0, 6]);
        assert_eq!(isolated.new, 5);

        let (clean, transactions) = isolate(5, &[], None);
        assert_eq!((clean.new, transactions), (5, 1));
        assert_eq!(isolate(0, &[], None).1, 0);
    }

    #[test]
    fn a_failure_that_is_not_the_data_fails_what_was_not_stored() {
        // 0..8 and 0..4 and 0..2 refused, 0 stored, 1 refused alone, then
        // the database goes away while 2..4 is written.
        let (isolated, _) = isolate(8, &[1], Some(6));
        let mut failed = isolated.failed.clone();
        failed.sort();
        assert_eq!(isolated.refused, vec![1]);
        assert_eq!(failed, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(isolated.new, 1);
    }
}
