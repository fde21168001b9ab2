//! The `handle_inbox` job: one sender's stored events, oldest first.
//!
//! One job per sender at a time (deduplicated on the sender id), so a
//! person's messages are answered in the order they wrote them, even when
//! the webhook delivered them out of order or in separate requests. Each
//! event is marked handled together with the replies it produced.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, InsertMany, QueryFilter as _, QueryOrder as _, TransactionTrait as _,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use super::{bot, replies};
use crate::{
    app::App,
    jobs::{self, Job, JobError, Outcome},
};
use entity::{messenger_inbox, messenger_links};

/// Handles one sender's unhandled events, oldest first.
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
        handle(app, self).await
    }
}

/// Queues the job of each sender (at least one, each once), in one
/// statement, run by the caller in the transaction that stores the events.
pub fn enqueue_query(senders: &[&str], now: DateTime<Utc>) -> InsertMany<entity::jobs::ActiveModel> {
    let jobs: Vec<HandleInbox> = senders
        .iter()
        .map(|psid| HandleInbox {
            psid: (*psid).to_owned(),
        })
        .collect();
    jobs::enqueue_many_query(&jobs, now)
}

async fn handle(app: &App, payload: &HandleInbox) -> Result<Outcome, JobError> {
    let events = messenger_inbox::Entity::find()
        .filter(messenger_inbox::Column::Psid.eq(payload.psid.clone()))
        .filter(messenger_inbox::Column::HandledAt.is_null())
        .order_by_asc(messenger_inbox::Column::SentAtMs)
        .order_by_asc(messenger_inbox::Column::Id)
        .all(&app.db)
        .await?;
    let Some(latest) = events.iter().map(|e| e.sent_at_ms).max() else {
        return Ok(Outcome::Done);
    };
    refresh_window(app, &payload.psid, latest).await?;
    for event in events {
        let answer = bot::handle(app, &event).await?;
        let now = app.clock.now();
        let txn = app.db.begin().await?;
        messenger_inbox::Entity::update_many()
            .col_expr(messenger_inbox::Column::HandledAt, Expr::value(now))
            .filter(messenger_inbox::Column::Id.eq(event.id))
            .exec(&txn)
            .await?;
        replies::queue(&txn, &event.psid, &answer, now).await?;
        txn.commit().await?;
    }
    // One wake for all the replies this run queued.
    app.jobs.wake();
    Ok(Outcome::Done)
}

/// Every message opens the 24-hour window again.
async fn refresh_window(app: &App, psid: &str, sent_at_ms: i64) -> Result<(), sea_orm::DbErr> {
    let at = DateTime::from_timestamp_millis(sent_at_ms)
        .unwrap_or_else(|| app.clock.now())
        .min(app.clock.now());
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::LastMessageAt, Expr::value(at))
        .col_expr(
            messenger_links::Column::UnreachableAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(messenger_links::Column::Psid.eq(psid))
        .filter(
            sea_orm::Condition::any()
                .add(messenger_links::Column::LastMessageAt.is_null())
                .add(messenger_links::Column::LastMessageAt.lt(at)),
        )
        .exec(&app.db)
        .await?;
    Ok(())
}
