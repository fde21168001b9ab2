//! The bot's replies (the `bot_replies` table): written with the handling
//! of the message they answer, sent in order by one job per sender, under
//! the same outbox policy as notifications ([`outbox`]) with
//! `messaging_type` RESPONSE (a reply inside the window). A reply longer
//! than the Send API takes is written as several messages, split at line
//! breaks and never inside a link (`send_api::limits::split`), its quick
//! replies on the last. As a delivery is, a reply is marked `Sending`
//! (committed) before the Send API is asked: a stop before the answer is
//! recorded leaves that mark, and the next try sends the reply again,
//! counting the cut-short try and the interruption (`interruptions`,
//! `bot_replies_interrupted_total`, a warning in the log): Messenger keeps
//! both copies, so a repeat is always visible in the row.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum as _, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, Set, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Notifier,
    outbox::{self, Attempt, Settled},
};
use crate::{
    jobs::{Job, JobError, Outcome},
    messenger::{
        greetings, inbox,
        send_api::{MessagingType, QuickReply, limits},
    },
};
use entity::{bot_replies, bot_replies::Status, messenger_inbox};

/// Sends one sender's pending replies, in the order they were written.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendBotReply {
    pub psid: String,
}

impl Job for SendBotReply {
    const KIND: &'static str = "send_bot_reply";
    type Context = Notifier;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("replies:{}", self.psid))
    }

    #[tracing::instrument(skip_all, fields(psid = %self.psid))]
    async fn run(&self, notifier: &Notifier) -> Result<Outcome, JobError> {
        send(notifier, &self.psid).await
    }
}

/// One message of the bot, with optional quick-reply buttons (title,
/// payload).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub text: String,
    pub quick_replies: Vec<(String, String)>,
    /// The one share it is about, if any: a reaction or a reply to it in
    /// Messenger becomes an answer to that share.
    pub share_id: Option<Uuid>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The same reply, about `share_id`.
    pub fn about(self, share_id: Uuid) -> Self {
        Self {
            share_id: Some(share_id),
            ..self
        }
    }
}

/// Writes `replies`; one job per sender sends that sender's replies in the
/// order they were written. Run it in the transaction of what they answer.
pub async fn queue(db: &impl ConnectionTrait, psid: &str, replies: &[Reply], now: DateTime<Utc>) -> Result<(), DbErr> {
    if replies.is_empty() {
        return Ok(());
    }
    for reply in replies {
        let parts = limits::split(&reply.text);
        let last = parts.len().saturating_sub(1);
        for (index, text) in parts.into_iter().enumerate() {
            let buttons = if index == last {
                reply.quick_replies.as_slice()
            } else {
                &[]
            };
            insert(db, psid, text, buttons, reply.share_id, now).await?;
        }
    }
    SendBotReply { psid: psid.to_owned() }.enqueue(db, now).await
}

/// One message of the bot, pending.
async fn insert(
    db: &impl ConnectionTrait,
    psid: &str,
    text: String,
    quick_replies: &[(String, String)],
    share_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let buttons: Vec<serde_json::Value> = quick_replies
        .iter()
        .map(|(title, payload)| serde_json::json!({ "title": title, "payload": payload }))
        .collect();
    bot_replies::Entity::insert(bot_replies::ActiveModel {
        id: Set(Uuid::now_v7()),
        psid: Set(psid.to_owned()),
        text: Set(text),
        quick_replies: Set(serde_json::Value::from(buttons).to_string()),
        status: Set(Status::Pending),
        attempts: Set(0),
        last_error: Set(None),
        provider_message_id: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        share_id: Set(share_id),
        tried_at: Set(None),
        interruptions: Set(0),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// An inbox event was handled: marks it so and queues its replies, in one
/// transaction (a crash cannot answer a message twice, or not at all).
/// When there are replies and the person was never greeted, `greeting` is
/// queued before them, in the same transaction
/// ([`greetings::claim`](crate::messenger::greetings::claim)): the first
/// answer a person gets starts with it, once, whichever worker answers
/// first. Answers whether it did. The caller wakes a worker once it
/// committed its batch.
pub async fn answered(
    db: &DatabaseConnection,
    event: &messenger_inbox::Model,
    replies: &[Reply],
    greeting: &Reply,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = crate::db::begin(db).await?;
    inbox::mark_handled(&txn, event.id, now).await?;
    let greeted = !replies.is_empty() && greetings::claim(&txn, &event.psid, now).await?;
    let greeted_first: Vec<Reply>;
    let replies = if greeted {
        greeted_first = std::iter::once(greeting).chain(replies).cloned().collect();
        &greeted_first
    } else {
        replies
    };
    queue(&txn, &event.psid, replies, now).await?;
    txn.commit().await?;
    Ok(greeted)
}

/// Sends the sender's pending replies (and any cut short while being
/// sent), oldest first; a retry starts again at the first one not yet
/// sent, so the order holds.
async fn send(notifier: &Notifier, psid: &str) -> Result<Outcome, JobError> {
    let pending = bot_replies::Entity::find()
        .filter(bot_replies::Column::Psid.eq(psid))
        .filter(bot_replies::Column::Status.is_in([Status::Pending, Status::Sending]))
        .order_by_asc(bot_replies::Column::Id)
        .all(&notifier.db)
        .await?;
    for reply in pending {
        send_one(notifier, &reply).await?;
    }
    Ok(Outcome::Done)
}

async fn send_one(notifier: &Notifier, reply: &bot_replies::Model) -> Result<(), JobError> {
    let now = notifier.clock.now();
    let (reply, attempt) = match &notifier.messenger {
        None => (
            reply.clone(),
            Attempt::Failed("Messenger is not set up on this server".into()),
        ),
        Some(api) => {
            // Committed before the Send API is asked: a stop before its
            // answer is recorded leaves the reply `Sending`.
            let Some(reply) = mark_sending(&notifier.db, reply, now).await? else {
                return Ok(()); // another try changed it since it was read
            };
            let buttons: Vec<QuickReply> = serde_json::from_str::<Vec<serde_json::Value>>(&reply.quick_replies)
                .unwrap_or_default()
                .iter()
                .map(|b| QuickReply {
                    title: b["title"].as_str().unwrap_or_default().to_owned(),
                    payload: b["payload"].as_str().unwrap_or_default().to_owned(),
                })
                .collect();
            let attempt = outbox::to_messenger(
                &notifier.db,
                api,
                &reply.psid,
                MessagingType::Response,
                &reply.text,
                &buttons,
                now,
            )
            .await?;
            (reply, attempt)
        }
    };
    let settled = outbox::settle(reply.attempts, reply.created_at, now, attempt);
    record(&notifier.db, &reply, &settled, notifier.clock.now()).await?;
    outbox::remember_share(&notifier.db, &settled, reply.share_id, &reply.psid, now).await?;
    settled.into_job_result()
}

/// Marks `reply` as being sent (`Sending`, `tried_at` = `now`) in a write
/// of its own. A reply already `Sending` was cut short (its try may have
/// reached the person): the mark counts that try and the interruption, and
/// says so in the log and in `bot_replies_interrupted_total`. Answers the
/// row as marked, or `None` when another try changed it since it was read.
async fn mark_sending(
    db: &impl ConnectionTrait,
    reply: &bot_replies::Model,
    now: DateTime<Utc>,
) -> Result<Option<bot_replies::Model>, DbErr> {
    let interrupted = reply.status == Status::Sending;
    let add = i32::from(interrupted);
    let marked = bot_replies::Model {
        status: Status::Sending,
        tried_at: Some(now),
        attempts: reply.attempts + add,
        interruptions: reply.interruptions + add,
        ..reply.clone()
    };
    let changed = bot_replies::Entity::update_many()
        .col_expr(bot_replies::Column::Status, Expr::value(Status::Sending))
        .col_expr(bot_replies::Column::TriedAt, Expr::value(now))
        .col_expr(bot_replies::Column::Attempts, Expr::value(marked.attempts))
        .col_expr(bot_replies::Column::Interruptions, Expr::value(marked.interruptions))
        .filter(bot_replies::Column::Id.eq(reply.id))
        .filter(bot_replies::Column::Status.eq(reply.status))
        .filter(bot_replies::Column::Interruptions.eq(reply.interruptions))
        .filter(bot_replies::Column::Attempts.eq(reply.attempts))
        .exec(db)
        .await?
        .rows_affected;
    if changed != 1 {
        return Ok(None);
    }
    if interrupted {
        tracing::warn!(
            reply_id = %reply.id,
            interruptions = marked.interruptions,
            "a bot reply cut short while being sent is sent again: the person may see it twice"
        );
        metrics::counter!("bot_replies_interrupted_total").increment(1);
    }
    Ok(Some(marked))
}

/// Writes what a try of `reply` came to (`sent_at`: when the provider
/// answered).
async fn record(
    db: &impl ConnectionTrait,
    reply: &bot_replies::Model,
    settled: &Settled,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    match settled {
        Settled::Finished {
            status,
            attempts,
            reason,
            provider_id,
        } => {
            bot_replies::Entity::update_many()
                .col_expr(bot_replies::Column::Status, Expr::value(*status))
                .col_expr(bot_replies::Column::Attempts, Expr::value(*attempts))
                .col_expr(bot_replies::Column::LastError, Expr::value(reason.clone()))
                .col_expr(bot_replies::Column::ProviderMessageId, Expr::value(provider_id.clone()))
                .col_expr(
                    bot_replies::Column::SentAt,
                    Expr::value((*status == Status::Sent).then_some(now)),
                )
                .filter(bot_replies::Column::Id.eq(reply.id))
                .exec(db)
                .await?;
            metrics::counter!("bot_replies_total", "outcome" => status.to_value().to_lowercase()).increment(1);
        }
        Settled::Retry { attempts, reason, .. } => {
            bot_replies::Entity::update_many()
                .col_expr(bot_replies::Column::Status, Expr::value(Status::Pending))
                .col_expr(bot_replies::Column::Attempts, Expr::value(*attempts))
                .col_expr(bot_replies::Column::LastError, Expr::value(reason.clone()))
                .filter(bot_replies::Column::Id.eq(reply.id))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}
