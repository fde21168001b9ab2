//! The `handle_inbox` job: one sender's stored events, oldest first.
//!
//! One job per sender at a time (deduplicated on the sender id), so a
//! person's messages are answered in the order they wrote them, even when
//! the webhook delivered them out of order or in separate requests. Each
//! event is marked handled together with the replies it produced; one the
//! bot fails on is answered with an apology, so it never holds up the
//! messages after it.
//!
//! The first answer a person ever gets starts with the greeting, once per
//! conversation, whichever worker answers first
//! ([`replies::answered`]); the first answer to someone who had not
//! written for [`SILENCE`] says again that the bot is an automated
//! assistant ([`disclose`](super::disclose)).
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    app::App,
    jobs::{self, Job, JobError, Outcome},
    messenger::{inbox, links},
    notify::replies,
};

/// After this long without a message from someone, the bot's next answer
/// says again that it is an automated assistant (Meta asks automated
/// experiences to say so "after a significant lapse of time"; a month is
/// long enough for a person to have forgotten who they were talking to,
/// and the page cannot write first in between: the 24-hour window).
pub const SILENCE: TimeDelta = TimeDelta::days(30);

/// Handles one sender's unhandled events, oldest first. The webhook queues
/// one per sender with each batch it stores.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandleInbox {
    pub psid: String,
}

impl Job for HandleInbox {
    const KIND: &'static str = "handle_inbox";
    type Context = App;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("inbox:{}", self.psid))
    }

    #[tracing::instrument(skip_all, fields(psid = %self.psid))]
    async fn run(&self, app: &App) -> Result<Outcome, JobError> {
        let events = inbox::unhandled(&app.db, &self.psid).await?;
        let Some(latest) = events.iter().max_by_key(|event| event.sent_at_ms) else {
            return Ok(Outcome::Done);
        };
        // Every message opens the 24-hour window again.
        links::heard_from(&app.db, &self.psid, inbox::sent_at(latest, app.clock.now())).await?;
        let now = app.clock.now();
        let first = events
            .iter()
            .map(|event| inbox::sent_at(event, now))
            .min()
            .unwrap_or(now);
        // Someone new is greeted (the greeting says it); someone back
        // after a long silence is told again.
        let mut disclose = inbox::last_handled_at(&app.db, &self.psid, now)
            .await?
            .is_some_and(|last| first - last > SILENCE);
        let greeting = super::greeting();
        for event in &events {
            // A message the bot fails on is answered with an apology and
            // left behind: retrying it would hold up everything the person
            // writes after it.
            let mut answer = match super::handle(app, event).await {
                Ok(answer) => answer,
                Err(err) => {
                    tracing::error!(error = %err.message, mid = %event.mid, "a bot command failed: apologising");
                    vec![super::sorry()]
                }
            };
            if disclose && !answer.is_empty() {
                super::disclose(&mut answer);
                disclose = false;
            }
            replies::answered(&app.db, event, &answer, &greeting, app.clock.now()).await?;
        }
        // One wake for all the replies this run queued.
        app.jobs.wake();
        Ok(Outcome::Done)
    }
}

/// The statement that queues the job of each of `senders` (distinct), for
/// the inbox to run with the events it stores
/// ([`QueueSenders`](crate::messenger::inbox::QueueSenders)).
pub fn queue_senders(senders: &[String], now: DateTime<Utc>) -> jobs::EnqueueStatement {
    let jobs: Vec<HandleInbox> = senders.iter().map(|psid| HandleInbox { psid: psid.clone() }).collect();
    jobs::enqueue_many_query(&jobs, now)
}
