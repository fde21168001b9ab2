//! The bot's replies: written with the handling of the message they answer,
//! sent by the job queue through the same Send API client and retry rules
//! as notifications (`messaging_type` RESPONSE: a reply inside the window).
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum as _, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _, Set,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    app::App,
    jobs::{Job, JobError, Outcome},
    notify::{
        messenger_send::{QuickReply, SendError},
        send::{MAX_AGE, MAX_ATTEMPTS},
    },
};
use entity::{bot_replies, bot_replies::Status};

/// Sends one sender's pending replies, in the order they were written.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendBotReply {
    pub psid: String,
}

impl Job for SendBotReply {
    const KIND: &'static str = "send_bot_reply";
    type Context = App;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("replies:{}", self.psid))
    }

    #[tracing::instrument(skip_all, fields(psid = %self.psid))]
    async fn run(&self, app: &App) -> Result<Outcome, JobError> {
        send(app, &self.psid).await
    }
}

/// One message of the bot, with optional quick-reply buttons.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub text: String,
    pub quick_replies: Vec<(String, String)>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            quick_replies: Vec::new(),
        }
    }
}

/// Writes `replies`; one job per sender sends that sender's replies in the
/// order they were written.
pub async fn queue(
    db: &impl ConnectionTrait,
    psid: &str,
    replies: &[Reply],
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    if replies.is_empty() {
        return Ok(());
    }
    for reply in replies {
        let id = Uuid::now_v7();
        let buttons: Vec<serde_json::Value> = reply
            .quick_replies
            .iter()
            .map(|(title, payload)| serde_json::json!({ "title": title, "payload": payload }))
            .collect();
        bot_replies::Entity::insert(bot_replies::ActiveModel {
            id: Set(id),
            psid: Set(psid.to_owned()),
            text: Set(reply.text.clone()),
            quick_replies: Set(serde_json::Value::from(buttons).to_string()),
            status: Set(Status::Pending),
            attempts: Set(0),
            last_error: Set(None),
            provider_message_id: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        })
        .exec_without_returning(db)
        .await?;
    }
    SendBotReply { psid: psid.to_owned() }.enqueue(db, now).await
}

/// Sends the sender's pending replies, oldest first; a retry starts again
/// at the first one not yet sent, so the order holds.
async fn send(app: &App, psid: &str) -> Result<Outcome, JobError> {
    let pending = bot_replies::Entity::find()
        .filter(bot_replies::Column::Psid.eq(psid))
        .filter(bot_replies::Column::Status.eq(Status::Pending))
        .order_by_asc(bot_replies::Column::Id)
        .all(&app.db)
        .await?;
    for reply in pending {
        send_one(app, &reply).await?;
    }
    Ok(Outcome::Done)
}

async fn send_one(app: &App, reply: &bot_replies::Model) -> Result<(), JobError> {
    let now = app.clock.now();
    let Some(messenger) = &app.messenger else {
        finish(
            app,
            reply,
            Status::Failed,
            Some("Messenger is not set up on this server".into()),
            None,
        )
        .await?;
        return Ok(());
    };
    let buttons: Vec<QuickReply> = serde_json::from_str::<Vec<serde_json::Value>>(&reply.quick_replies)
        .unwrap_or_default()
        .iter()
        .map(|b| QuickReply {
            title: b["title"].as_str().unwrap_or_default().to_owned(),
            payload: b["payload"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    match messenger
        .send_text(&reply.psid, "RESPONSE", &reply.text, &buttons)
        .await
    {
        Ok(id) => finish(app, reply, Status::Sent, None, Some(id)).await?,
        Err(SendError::Retry(reason)) if reply.attempts + 1 < MAX_ATTEMPTS && now - reply.created_at < MAX_AGE => {
            bot_replies::Entity::update_many()
                .col_expr(bot_replies::Column::Attempts, Expr::value(reply.attempts + 1))
                .col_expr(bot_replies::Column::LastError, Expr::value(reason.clone()))
                .filter(bot_replies::Column::Id.eq(reply.id))
                .exec(&app.db)
                .await?;
            return Err(JobError::retry(reason));
        }
        Err(SendError::Unreachable) => {
            super::mark_unreachable(&app.db, &reply.psid, now).await?;
            finish(
                app,
                reply,
                Status::Failed,
                Some(SendError::Unreachable.to_string()),
                None,
            )
            .await?;
        }
        Err(err) => finish(app, reply, Status::Failed, Some(err.to_string()), None).await?,
    }
    Ok(())
}

async fn finish(
    app: &App,
    reply: &bot_replies::Model,
    outcome: Status,
    error: Option<String>,
    provider_id: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    let now = app.clock.now();
    bot_replies::Entity::update_many()
        .col_expr(bot_replies::Column::Status, Expr::value(outcome))
        .col_expr(bot_replies::Column::Attempts, Expr::value(reply.attempts + 1))
        .col_expr(bot_replies::Column::LastError, Expr::value(error))
        .col_expr(bot_replies::Column::ProviderMessageId, Expr::value(provider_id))
        .col_expr(
            bot_replies::Column::SentAt,
            Expr::value((outcome == Status::Sent).then_some(now)),
        )
        .filter(bot_replies::Column::Id.eq(reply.id))
        .exec(&app.db)
        .await?;
    metrics::counter!("bot_replies_total", "outcome" => outcome.to_value().to_lowercase()).increment(1);
    Ok(())
}
