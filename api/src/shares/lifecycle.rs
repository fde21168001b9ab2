//! How a pending share moves on: checked again later, played, or expired.
//! Detection runs these; each changes only shares still pending, so a
//! second worker, or a cancel a moment before, changes nothing twice. The
//! steps that end a share are written to its log ([`super::activity`]) in
//! the same statement's transaction.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, Set,
    UpdateMany, sea_query::Expr,
};
use uuid::Uuid;

use super::activity::log;
use entity::{play_events, share_activities, share_activities::Kind, shares, shares::Status};

/// A share that was played: its play event (the listen receipt) and the
/// step in its log.
#[derive(Debug, Clone)]
pub struct Played {
    pub event: play_events::Model,
    pub step: share_activities::Model,
}

/// A share that ended (expired, cancelled) and the step in its log.
#[derive(Debug, Clone)]
pub struct Ended {
    pub share: shares::Model,
    pub step: share_activities::Model,
}

/// A recipient's pending shares.
pub async fn pending_for(db: &impl ConnectionTrait, recipient: Uuid) -> Result<Vec<shares::Model>, DbErr> {
    shares::Entity::find()
        .filter(shares::Column::RecipientId.eq(recipient))
        .filter(shares::Column::Status.eq(Status::Pending))
        .all(db)
        .await
}

/// Whether a recipient has a pending share.
pub async fn has_pending(db: &impl ConnectionTrait, recipient: Uuid) -> Result<bool, DbErr> {
    Ok(shares::Entity::find()
        .filter(shares::Column::RecipientId.eq(recipient))
        .filter(shares::Column::Status.eq(Status::Pending))
        .one(db)
        .await?
        .is_some())
}

/// Marks a pending share played at `played_at` and writes its play event
/// and its step (run in one transaction). `None` when it was no longer
/// pending: someone else recorded it, or it was cancelled.
pub async fn played(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    played_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Played>, DbErr> {
    let marked = shares::Entity::update_many()
        .col_expr(shares::Column::Status, Expr::value(Status::Played))
        .col_expr(shares::Column::PlayedAt, Expr::value(played_at))
        .col_expr(shares::Column::NextCheckAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
        .filter(shares::Column::Id.eq(share_id))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec(db)
        .await?;
    if marked.rows_affected == 0 {
        return Ok(None);
    }
    let event = play_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        share_id: Set(share_id),
        played_at: Set(played_at),
        detected_at: Set(now),
    }
    .insert(db)
    .await?;
    let step = log(db, share_id, Kind::Played, played_at, now).await?;
    Ok(Some(Played { event, step }))
}

/// When the shares `ids` are next checked (`None`: paused, until the
/// recipient links Spotify again).
pub async fn next_check(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    shares::Entity::update_many()
        .col_expr(shares::Column::NextCheckAt, Expr::value(at))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
        .filter(shares::Column::Id.is_in(ids))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// The update that ends shares as `status` (no more checks); the caller
/// says which, and that they must still be pending.
pub(super) fn end(status: Status, now: DateTime<Utc>) -> UpdateMany<shares::Entity> {
    shares::Entity::update_many()
        .col_expr(shares::Column::Status, Expr::value(status))
        .col_expr(shares::Column::NextCheckAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
}

/// Ends the shares `ids`: not played before they expired (run in a
/// transaction: each gets its step). Answers those that were still pending.
pub async fn expire(db: &impl ConnectionTrait, ids: Vec<Uuid>, now: DateTime<Utc>) -> Result<Vec<Ended>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ended = end(Status::Expired, now)
        .filter(shares::Column::Id.is_in(ids))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec_with_returning(db)
        .await?;
    expired_steps(db, ended, now).await
}

/// Ends every pending share that expired before `before`, whoever's it is
/// (run in a transaction: each gets its step); answers those it ended.
pub async fn expire_overdue(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Ended>, DbErr> {
    let ended = end(Status::Expired, now)
        .filter(shares::Column::Status.eq(Status::Pending))
        .filter(shares::Column::ExpiresAt.lt(before))
        .exec_with_returning(db)
        .await?;
    expired_steps(db, ended, now).await
}

/// The `EXPIRED` step of each share that just ended, at its expiry.
async fn expired_steps(
    db: &impl ConnectionTrait,
    ended: Vec<shares::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<Ended>, DbErr> {
    let mut steps = Vec::with_capacity(ended.len());
    for share in ended {
        let step = log(db, share.id, Kind::Expired, share.expires_at.min(now), now).await?;
        steps.push(Ended { share, step });
    }
    Ok(steps)
}
