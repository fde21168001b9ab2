//! Answers to a share from the two people in it: a reaction (one emoji per
//! person, replaced by the next, taken back with none: the
//! `share_reactions` table) and replies (rows of the share's activity log,
//! kind `REPLIED`). Each change that others should hear of is also a step
//! of the log (`REACTED`, `REPLIED`), written in the same transaction, with
//! who acted and what.
//!
//! Changes may arrive late or twice (Messenger's webhook retries and does
//! not keep order): a reaction older than the one standing changes
//! nothing, and an event already recorded (its `source_mid`) writes
//! nothing.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, Set, sea_query::OnConflict,
};
use unicode_segmentation::UnicodeSegmentation as _;
use uuid::Uuid;

use crate::{
    db,
    error::{Error, Result},
};
use entity::{
    share_activities::{self, Kind},
    share_reactions,
};

/// The longest reply, in characters (as a share's note).
pub const REPLY_MAX_CHARS: usize = 280;

/// One emoji, as people may type it (with or without its variation
/// selector, with a skin tone, a ZWJ sequence such as 👨‍👩‍👧), answered in
/// its fully qualified form, so that the same emoji is always stored the
/// same way. Unicode's emoji list (the `emojis` crate, Unicode 18) decides
/// what an emoji is; `unicode-segmentation` counts graphemes.
///
/// # Errors
/// `BadUserInput` (field `emoji`) for anything but exactly one emoji.
pub fn emoji(input: &str) -> Result<String> {
    let refuse = |why: &str| Error::bad_input("emoji", why);
    match input.graphemes(true).count() {
        0 => return Err(refuse("an emoji is needed (or null to take a reaction back)")),
        1 => {}
        _ => return Err(refuse("a reaction is exactly one emoji")),
    }
    emojis::get(input)
        .map(|found| found.as_str().to_owned())
        .ok_or_else(|| refuse("a reaction is one emoji, like 👍 or ❤️"))
}

/// A reply's text, trimmed.
///
/// # Errors
/// `BadUserInput` (field `text`) when empty or over [`REPLY_MAX_CHARS`].
pub fn reply_text(input: &str) -> Result<String> {
    let text = input.trim();
    if text.is_empty() {
        return Err(Error::bad_input("text", "a reply needs some text"));
    }
    if text.chars().count() > REPLY_MAX_CHARS {
        return Err(Error::bad_input(
            "text",
            format!("a reply can have at most {REPLY_MAX_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Where an answer comes from: when it happened and, from Messenger, the
/// event's id.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub at: DateTime<Utc>,
    pub source_mid: Option<&'a str>,
}

/// `user_id` reacts to `share_id` with `emoji` (`None`: takes their
/// reaction back), as of `origin.at`. Answers the `REACTED` step when that
/// changed their reaction; `None` when it did not (the same emoji, nothing
/// to take back, a change older than the one standing, an event already
/// recorded). Run it in a transaction.
pub async fn react(
    txn: &impl ConnectionTrait,
    share_id: Uuid,
    user_id: Uuid,
    emoji: Option<String>,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> Result<Option<share_activities::Model>, DbErr> {
    // Two reactions of one person at once take turns (PostgreSQL; SQLite's
    // write lock already does).
    db::serialize_on(txn, &format!("reaction:{share_id}:{user_id}")).await?;
    if let Some(mid) = origin.source_mid
        && recorded(txn, mid).await?
    {
        return Ok(None);
    }
    let current = share_reactions::Entity::find()
        .filter(share_reactions::Column::ShareId.eq(share_id))
        .filter(share_reactions::Column::UserId.eq(user_id))
        .one(txn)
        .await?;
    let changed = match &current {
        Some(standing) if standing.at > origin.at => return Ok(None), // too late
        Some(standing) => standing.emoji != emoji,
        None => emoji.is_some(),
    };
    let row = share_reactions::ActiveModel {
        id: Set(Uuid::now_v7()),
        share_id: Set(share_id),
        user_id: Set(user_id),
        emoji: Set(emoji.clone()),
        at: Set(origin.at),
        updated_at: Set(now),
    };
    share_reactions::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([share_reactions::Column::ShareId, share_reactions::Column::UserId])
                .update_columns([
                    share_reactions::Column::Emoji,
                    share_reactions::Column::At,
                    share_reactions::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    if !changed {
        return Ok(None);
    }
    Ok(Some(
        answer(txn, share_id, user_id, Kind::Reacted, emoji, origin, now).await?,
    ))
}

/// `user_id` replies `text` (checked by [`reply_text`]) to `share_id`.
/// Answers the `REPLIED` step, or `None` for an event already recorded.
pub async fn reply(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    user_id: Uuid,
    text: String,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> Result<Option<share_activities::Model>, DbErr> {
    if let Some(mid) = origin.source_mid
        && recorded(db, mid).await?
    {
        return Ok(None);
    }
    Ok(Some(
        answer(db, share_id, user_id, Kind::Replied, Some(text), origin, now).await?,
    ))
}

/// Whether the Messenger event `mid` was recorded already.
async fn recorded(db: &impl ConnectionTrait, mid: &str) -> Result<bool, DbErr> {
    Ok(share_activities::Entity::find()
        .filter(share_activities::Column::SourceMid.eq(mid))
        .one(db)
        .await?
        .is_some())
}

/// Writes one answer's step.
async fn answer(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    user_id: Uuid,
    kind: Kind,
    detail: Option<String>,
    origin: Origin<'_>,
    now: DateTime<Utc>,
) -> Result<share_activities::Model, DbErr> {
    share_activities::ActiveModel {
        user_id: Set(Some(user_id)),
        detail: Set(detail),
        source_mid: Set(origin.source_mid.map(str::to_owned)),
        ..super::activity::row(share_id, kind, origin.at, now)
    }
    .insert(db)
    .await
}

/// The reactions standing on a share, oldest first.
pub async fn reactions(db: &impl ConnectionTrait, share_id: Uuid) -> Result<Vec<share_reactions::Model>, DbErr> {
    share_reactions::Entity::find()
        .filter(share_reactions::Column::ShareId.eq(share_id))
        .filter(share_reactions::Column::Emoji.is_not_null())
        .order_by_asc(share_reactions::Column::At)
        .all(db)
        .await
}

/// The replies to a share, in the order they were made.
pub async fn replies(db: &impl ConnectionTrait, share_id: Uuid) -> Result<Vec<share_activities::Model>, DbErr> {
    share_activities::Entity::find()
        .filter(share_activities::Column::ShareId.eq(share_id))
        .filter(share_activities::Column::Kind.eq(Kind::Replied))
        .order_by_asc(share_activities::Column::At)
        .order_by_asc(share_activities::Column::Id)
        .all(db)
        .await
}

/// The reactions and replies others made lately to `user_id`'s shares
/// (sent or received), newest first, at most `limit`: steps with their
/// shares.
pub async fn lately_for(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(share_activities::Model, entity::shares::Model)>, DbErr> {
    use sea_orm::{Condition, QuerySelect as _};
    let found = share_activities::Entity::find()
        .find_also_related(entity::shares::Entity)
        .filter(share_activities::Column::Kind.is_in([Kind::Reacted, Kind::Replied]))
        .filter(share_activities::Column::Detail.is_not_null())
        .filter(share_activities::Column::UserId.ne(user_id))
        .filter(share_activities::Column::At.gte(since))
        .filter(
            Condition::any()
                .add(entity::shares::Column::SenderId.eq(user_id))
                .add(entity::shares::Column::RecipientId.eq(user_id)),
        )
        .order_by_desc(share_activities::Column::At)
        .limit(limit)
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(step, share)| Some((step, share?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_in_any_of_its_forms() {
        for ok in ["👍", "👍🏽", "👨‍👩‍👧", "❤️", "🇫🇷", "🏳️‍🌈"] {
            assert!(emoji(ok).is_ok(), "{ok}");
        }
        assert_eq!(emoji("❤").unwrap(), "❤️", "the fully qualified form");
        for refused in ["", "ab", "a", "👍👍", "👍 ", ":+1:", "1"] {
            assert!(emoji(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn replies_are_short_and_not_empty() {
        assert_eq!(reply_text("  love it  ").unwrap(), "love it");
        assert!(reply_text("   ").is_err());
        assert!(reply_text(&"é".repeat(280)).is_ok());
        assert!(reply_text(&"é".repeat(281)).is_err());
    }
}
