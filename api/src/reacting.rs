//! Reacting, a use case: the two people in a share answer it — a reaction
//! (one emoji, replaceable, removable) or a reply (up to 280 characters) —
//! from the app (`reactToShare`, `replyToShare`) or from Messenger (a
//! reaction to, or a reply to, a message of the page that concerns the
//! share). The recipient may answer a share (unless it was cancelled), the
//! sender a played one (an answer to the receipt).
//!
//! An answer is recorded (`shares::answers`) in one transaction with its
//! notice to the other person (`Notifier::fan_out`: push and Messenger, as
//! their choice of steps allows; a reaction taken back notifies nobody),
//! and told live to both (`shareActivity` REACTED or REPLIED) once
//! committed.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    app::App,
    error::{Error, Result},
    messenger::{inbox, links, sent},
    notify::Notice,
    receipts::Told,
    shares::{
        self,
        answers::{self, Origin},
    },
};
use entity::{
    deliveries::EventKind,
    messenger_inbox::{self, Kind as Stored},
    shares as share,
    shares::Status,
};

/// What someone answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A reaction (a checked emoji), or `None` to take one's back.
    React(Option<String>),
    /// A reply (checked text).
    Reply(String),
}

/// `me` reacts to share `id` with `emoji` (`None` takes the reaction back);
/// answers the share.
///
/// # Errors
/// `BadUserInput` (field `emoji`) unless it is one emoji; as [`allowed`]:
/// `NotFound`, `Conflict`.
pub async fn react(app: &App, me: Uuid, id: Uuid, emoji: Option<&str>) -> Result<share::Model> {
    let emoji = emoji.map(answers::emoji).transpose()?;
    answer_in_app(app, me, id, Answer::React(emoji)).await
}

/// `me` replies `text` to share `id`; answers the share.
///
/// # Errors
/// `BadUserInput` (field `text`) when empty or too long; as [`allowed`]:
/// `NotFound`, `Conflict`.
pub async fn reply(app: &App, me: Uuid, id: Uuid, text: &str) -> Result<share::Model> {
    let text = answers::reply_text(text)?;
    answer_in_app(app, me, id, Answer::Reply(text)).await
}

async fn answer_in_app(app: &App, me: Uuid, id: Uuid, answer: Answer) -> Result<share::Model> {
    let share = shares::get(&app.db, me, id)
        .await?
        .ok_or_else(|| Error::not_found("no such share"))?;
    allowed(&share, me)?;
    let now = app.clock.now();
    record(
        app,
        &share,
        me,
        answer,
        Origin {
            at: now,
            source_mid: None,
        },
        now,
    )
    .await?;
    Ok(share)
}

/// Whether `me`, who is in `share`, may answer it now.
///
/// # Errors
/// `NotFound` unless `me` sent or received it; `Conflict` for a cancelled
/// share, or for its sender before it was played.
pub fn allowed(share: &share::Model, me: Uuid) -> Result<()> {
    if share.recipient_id == me {
        if share.status == Status::Cancelled {
            return Err(Error::Conflict("this share was cancelled by its sender".into()));
        }
        return Ok(());
    }
    if share.sender_id == me {
        if share.status != Status::Played {
            return Err(Error::Conflict(
                "you can react or reply to a song you shared once your friend played it".into(),
            ));
        }
        return Ok(());
    }
    Err(Error::not_found("no such share"))
}

/// Records `answer` by `me` to `share`, with its notice to the other
/// person, in one transaction; tells both once committed. Answers whether
/// anything changed.
async fn record(
    app: &App,
    share: &share::Model,
    me: Uuid,
    answer: Answer,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = crate::db::begin(&app.db).await?;
    let (step, kind) = match answer {
        Answer::React(emoji) => (
            answers::react(&txn, share.id, me, emoji, origin, now).await?,
            EventKind::ShareReacted,
        ),
        Answer::Reply(text) => (
            answers::reply(&txn, share.id, me, text, origin, now).await?,
            EventKind::ShareReplied,
        ),
    };
    let Some(step) = step else {
        txn.commit().await?;
        return Ok(false);
    };
    if step.detail.is_some() {
        let other = if share.sender_id == me {
            share.recipient_id
        } else {
            share.sender_id
        };
        let notice = Notice {
            user_id: other,
            kind,
            event_id: step.id,
            share_id: Some(share.id),
        };
        app.notify.fan_out(&txn, notice, now).await?;
    }
    app.jobs.commit(txn).await?;
    Told::answered(share, &step).publish(app).await;
    tracing::info!(share_id = %share.id, kind = ?step.kind, "share answered");
    Ok(true)
}

/// What became of a Messenger reaction or reply.
#[derive(Debug)]
pub enum Heard {
    /// It is not about a message of the page that concerns a share (or not
    /// a reaction or reply at all): nothing to do.
    Elsewhere,
    /// Recorded as `by`'s answer to `share` (or already was).
    Answered {
        share: share::Model,
        by: Uuid,
        answer: Answer,
    },
    /// About a share, but refused: why (the person's to read).
    Refused(Error),
}

/// A stored Messenger event that reacts or replies to a message of the
/// page: when that message concerns a share, the sender's answer to it,
/// as of the event's time (a reaction older than the one standing changes
/// nothing; a redelivered event, nothing either). `unreact` takes the
/// reaction back.
///
/// # Errors
/// Only `Internal` (the database); refusals are [`Heard::Refused`].
pub async fn from_messenger(app: &App, event: &messenger_inbox::Model) -> Result<Heard> {
    let Some(target) = event.target_mid.as_deref() else {
        return Ok(Heard::Elsewhere);
    };
    if !matches!(event.kind, Stored::Reaction | Stored::Reply) {
        return Ok(Heard::Elsewhere);
    }
    let Some(share_id) = sent::share_of(&app.db, target, &event.psid).await? else {
        return Ok(Heard::Elsewhere);
    };
    let Some(user) = links::linked_user(&app.db, &event.psid).await? else {
        return Ok(Heard::Elsewhere);
    };
    let Some(share) = shares::get(&app.db, user.id, share_id).await? else {
        return Ok(Heard::Elsewhere);
    };
    let answer = match read(event) {
        Ok(answer) => answer,
        Err(refused) => return Ok(Heard::Refused(refused)),
    };
    if let Err(refused) = allowed(&share, user.id) {
        return Ok(Heard::Refused(refused));
    }
    let now = app.clock.now();
    let origin = Origin {
        at: inbox::sent_at(event, now),
        source_mid: Some(&event.mid),
    };
    record(app, &share, user.id, answer.clone(), origin, now).await?;
    Ok(Heard::Answered {
        share,
        by: user.id,
        answer,
    })
}

/// The answer an event holds, checked as the app's are.
fn read(event: &messenger_inbox::Model) -> Result<Answer> {
    let text = event.text.as_deref().unwrap_or("");
    match event.kind {
        Stored::Reaction if event.payload.as_deref() == Some("unreact") => Ok(Answer::React(None)),
        Stored::Reaction => Ok(Answer::React(Some(answers::emoji(text)?))),
        _ => Ok(Answer::Reply(answers::reply_text(text)?)),
    }
}
