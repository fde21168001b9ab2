//! Questions the bot asked a sender and waits for an answer to (the
//! `bot_questions` table): which friend should get a bare link, with the
//! friends it offered. One open question per sender; a newer one replaces
//! it.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait as _, Set, sea_query::OnConflict};
use serde::{Deserialize, Serialize};

use entity::bot_questions;

/// How long "to whom?" waits for an answer.
pub const LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// A friend the question offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Their handle, without `@`.
    pub handle: String,
    /// Their display name.
    pub name: String,
}

/// A question asked of a sender, open or not.
#[derive(Debug, Clone)]
pub struct Question {
    /// The track the answer sends.
    pub track_id: String,
    /// The friends offered, in the order listed (numbered from 1).
    pub choices: Vec<Choice>,
    /// False once [`LIFETIME`] has passed: it can no longer be answered.
    pub open: bool,
}

/// Asks `psid` to whom `track_id` should go, offering `choices` (replacing
/// an open question).
///
/// # Errors
/// The database's.
pub async fn ask_whom(
    db: &impl ConnectionTrait,
    psid: &str,
    track_id: &str,
    choices: &[Choice],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let choices = serde_json::to_string(choices).unwrap_or_else(|_| "[]".into());
    bot_questions::Entity::insert(bot_questions::ActiveModel {
        psid: Set(psid.to_owned()),
        track_id: Set(track_id.to_owned()),
        expires_at: Set(now + LIFETIME),
        choices: Set(choices),
    })
    .on_conflict(
        OnConflict::column(bot_questions::Column::Psid)
            .update_columns([
                bot_questions::Column::TrackId,
                bot_questions::Column::ExpiresAt,
                bot_questions::Column::Choices,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The last question asked of `psid` and not answered, open or expired;
/// `None` when there is none. It stays asked.
///
/// # Errors
/// The database's.
pub async fn asked(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<Option<Question>, DbErr> {
    let Some(row) = bot_questions::Entity::find_by_id(psid).one(db).await? else {
        return Ok(None);
    };
    Ok(Some(Question {
        choices: serde_json::from_str(&row.choices).unwrap_or_default(),
        open: row.expires_at > now,
        track_id: row.track_id,
    }))
}

/// Forgets the question asked of `psid`, answered or expired.
///
/// # Errors
/// The database's.
pub async fn close(db: &impl ConnectionTrait, psid: &str) -> Result<(), DbErr> {
    bot_questions::Entity::delete_by_id(psid).exec(db).await?;
    Ok(())
}

/// The track `psid` was asked about, closing the question; `None` when
/// there is no open question (or it expired).
///
/// # Errors
/// The database's.
pub async fn answer(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<Option<String>, DbErr> {
    match asked(db, psid, now).await? {
        Some(question) if question.open => {
            close(db, psid).await?;
            Ok(Some(question.track_id))
        }
        _ => Ok(None),
    }
}
