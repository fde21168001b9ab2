//! The page's messages that concern a share (the `share_messages` table),
//! remembered by the `message_id` the Send API answered, so that when the
//! person reacts to one in Messenger (a `message_reactions` event naming
//! its `mid`) or replies to it (`reply_to.mid`), the reaction or reply
//! finds its share.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait as _, Set, sea_query::OnConflict};
use uuid::Uuid;

use entity::share_messages;

/// Remembers that message `mid`, sent to `psid`, concerns `share_id` (once;
/// a second try to remember it changes nothing).
pub async fn remember(
    db: &impl ConnectionTrait,
    mid: &str,
    share_id: Uuid,
    psid: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    share_messages::Entity::insert(share_messages::ActiveModel {
        mid: Set(mid.to_owned()),
        share_id: Set(share_id),
        psid: Set(psid.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(OnConflict::column(share_messages::Column::Mid).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The share that message `mid` concerns, if the page sent it to `psid`
/// (nobody else can react to it); `None` for any other message.
pub async fn share_of(db: &impl ConnectionTrait, mid: &str, psid: &str) -> Result<Option<Uuid>, DbErr> {
    Ok(share_messages::Entity::find_by_id(mid.to_owned())
        .one(db)
        .await?
        .filter(|message| message.psid == psid)
        .map(|message| message.share_id))
}
