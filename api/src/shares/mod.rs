//! Shares: a track sent to a friend, and its listen receipt once played
//! (the `shares` and `play_events` tables, which only this module writes).
//!
//! Every share ends `Played`, `Expired` or `Cancelled`. Creating one is the
//! sharing use case (`crate::sharing`); watching it until it ends is
//! detection's (`crate::detection`), through the lifecycle statements
//! here ([`lifecycle`]).
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum as _, ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, DbErr, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Set,
};
use uuid::Uuid;

use crate::{
    db,
    error::{Error, Result},
    paging::Page,
};
use entity::{play_events, shares, shares::Status};

pub mod activity;
pub mod answers;
pub mod lifecycle;
pub mod stats;
pub mod tracked;

/// A new pending share, as the sharing use case decided it.
pub struct Draft {
    pub sender_id: Uuid,
    pub recipient_id: Uuid,
    pub track_id: String,
    pub note: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub first_check: DateTime<Utc>,
}

/// Writes a new pending share (in the caller's transaction).
pub async fn insert(db: &impl ConnectionTrait, draft: Draft, now: DateTime<Utc>) -> Result<shares::Model, DbErr> {
    shares::ActiveModel {
        id: Set(Uuid::now_v7()),
        sender_id: Set(draft.sender_id),
        recipient_id: Set(draft.recipient_id),
        track_id: Set(draft.track_id),
        note: Set(draft.note),
        status: Set(Status::Pending),
        created_at: Set(now),
        played_at: Set(None),
        opened_at: Set(None),
        listening_at: Set(None),
        expires_at: Set(draft.expires_at),
        next_check_at: Set(Some(draft.first_check)),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// How many shares `sender` made since `since`.
pub async fn sent_since(db: &impl ConnectionTrait, sender: Uuid, since: DateTime<Utc>) -> Result<u64, DbErr> {
    shares::Entity::find()
        .filter(shares::Column::SenderId.eq(sender))
        .filter(shares::Column::CreatedAt.gt(since))
        .count(db)
        .await
}

/// The pending share of this track from `sender` to `recipient`, if any.
pub async fn pending_between(
    db: &impl ConnectionTrait,
    sender: Uuid,
    recipient: Uuid,
    track_id: &str,
) -> Result<Option<shares::Model>, DbErr> {
    shares::Entity::find()
        .filter(shares::Column::SenderId.eq(sender))
        .filter(shares::Column::RecipientId.eq(recipient))
        .filter(shares::Column::TrackId.eq(track_id))
        .filter(shares::Column::Status.eq(Status::Pending))
        .one(db)
        .await
}

/// The sender withdraws a pending share (run in a transaction: the share
/// ends and its `CANCELLED` step is written together).
///
/// # Errors
/// `NotFound` unless `me` sent or received it; `Forbidden` for its
/// recipient; `Conflict` when it is no longer pending.
#[tracing::instrument(skip(db), fields(user_id = %me))]
pub async fn cancel(db: &impl ConnectionTrait, me: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<lifecycle::Ended> {
    let share = get(db, me, id)
        .await?
        .ok_or_else(|| Error::not_found("no such share"))?;
    if share.sender_id != me {
        return Err(Error::Forbidden(
            "only the person who shared a song can cancel it".into(),
        ));
    }
    // Only a pending share changes: of several cancels at once, one does it.
    let ended = lifecycle::end(Status::Cancelled, now)
        .filter(shares::Column::Id.eq(id))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec_with_returning(db)
        .await?;
    let Some(share) = ended.into_iter().next() else {
        let status = get(db, me, id).await?.map_or(share.status, |s| s.status);
        return Err(Error::Conflict(format!(
            "this share is already {}: only pending shares can be cancelled",
            status.to_value().to_lowercase()
        )));
    };
    let step = activity::log(db, share.id, entity::share_activities::Kind::Cancelled, now, now).await?;
    Ok(lifecycle::Ended { share, step })
}

/// A share, only for its sender or recipient.
pub async fn get(db: &impl ConnectionTrait, me: Uuid, id: Uuid) -> Result<Option<shares::Model>> {
    let share = shares::Entity::find_by_id(id).one(db).await?;
    Ok(share.filter(|s| s.sender_id == me || s.recipient_id == me))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    Sent,
    Received,
}

/// My shares in one mailbox, with one status or any.
fn mine(me: Uuid, which: Mailbox, status: Option<Status>) -> sea_orm::Select<shares::Entity> {
    let query = shares::Entity::find().filter(match which {
        Mailbox::Sent => Condition::all().add(shares::Column::SenderId.eq(me)),
        Mailbox::Received => Condition::all().add(shares::Column::RecipientId.eq(me)),
    });
    match status {
        Some(status) => query.filter(shares::Column::Status.eq(status)),
        None => query,
    }
}

/// How many shares of mine there are in one mailbox (with one status).
pub async fn count(db: &impl ConnectionTrait, me: Uuid, which: Mailbox, status: Option<Status>) -> Result<u64> {
    Ok(mine(me, which, status).count(db).await?)
}

/// A page of my shares, newest first; the extra row tells if there is more.
pub async fn list(
    db: &impl ConnectionTrait,
    me: Uuid,
    which: Mailbox,
    status: Option<Status>,
    page: Page,
) -> Result<(Vec<shares::Model>, bool)> {
    let mut query = mine(me, which, status);
    if let Some(after) = page.after {
        query = query.filter(shares::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(shares::Column::Id)
        .limit(page.limit())
        .all(db)
        .await?;
    Ok(page.split(rows))
}

/// Shares by id, many at once (the subscriptions' loader).
pub async fn load_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, shares::Model>, DbErr> {
    db::by_keys::<shares::Entity, _>(db, shares::Column::Id, ids, |row| row.id).await
}

/// A share by id, whoever asks (for a play event already shown to them).
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<shares::Model>, DbErr> {
    shares::Entity::find_by_id(id).one(db).await
}

/// The play event of a share: its listen receipt, once played.
pub async fn play_of(db: &impl ConnectionTrait, share_id: Uuid) -> Result<Option<play_events::Model>, DbErr> {
    play_events::Entity::find()
        .filter(play_events::Column::ShareId.eq(share_id))
        .one(db)
        .await
}

/// Play events with their shares, many at once, in one joined query (the
/// subscriptions' loader).
pub async fn plays_with_shares(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (play_events::Model, shares::Model)>, DbErr> {
    let found = play_events::Entity::find()
        .find_also_related(shares::Entity)
        .filter(play_events::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(event, share)| Some((event.id, (event, share?))))
        .collect())
}

/// A pending share of `track_id` to `recipient`, made at `now` and
/// expiring a week later, for unit tests.
#[cfg(test)]
pub(crate) fn sample(track_id: &str, recipient: Uuid, now: DateTime<Utc>) -> shares::Model {
    shares::Model {
        id: Uuid::now_v7(),
        sender_id: Uuid::now_v7(),
        recipient_id: recipient,
        track_id: track_id.into(),
        note: None,
        status: shares::Status::Pending,
        created_at: now,
        played_at: None,
        opened_at: None,
        listening_at: None,
        expires_at: now + chrono::TimeDelta::days(7),
        next_check_at: None,
        updated_at: now,
    }
}
