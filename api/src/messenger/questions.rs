//! Questions the bot asked a sender and waits for an answer to (the
//! `bot_questions` table): which friend should get a bare link. One open
//! question per sender; a newer one replaces it.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait as _, Set, sea_query::OnConflict};

use entity::bot_questions;

/// How long "to whom?" waits for an answer.
pub const LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// Asks `psid` to whom `track_id` should go (replacing an open question).
pub async fn ask_whom(db: &impl ConnectionTrait, psid: &str, track_id: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
    bot_questions::Entity::insert(bot_questions::ActiveModel {
        psid: Set(psid.to_owned()),
        track_id: Set(track_id.to_owned()),
        expires_at: Set(now + LIFETIME),
    })
    .on_conflict(
        OnConflict::column(bot_questions::Column::Psid)
            .update_columns([bot_questions::Column::TrackId, bot_questions::Column::ExpiresAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The track `psid` was asked about, closing the question; `None` when
/// there is no open question (or it expired).
pub async fn answer(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<Option<String>, DbErr> {
    let question = bot_questions::Entity::find_by_id(psid).one(db).await?;
    let Some(question) = question.filter(|q| q.expires_at > now) else {
        return Ok(None);
    };
    bot_questions::Entity::delete_by_id(psid).exec(db).await?;
    Ok(Some(question.track_id))
}
