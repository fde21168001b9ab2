//! How a pending share moves on: checked again later, played, or expired.
//! Detection runs these; each changes only shares still pending, so a
//! second worker, or a cancel a moment before, changes nothing twice.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, Set,
    UpdateMany, sea_query::Expr,
};
use uuid::Uuid;

use entity::{play_events, shares, shares::Status};

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
/// (run both in one transaction). `None` when it was no longer pending:
/// someone else recorded it, or it was cancelled.
pub async fn played(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    played_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<play_events::Model>, DbErr> {
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
    Ok(Some(event))
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

/// Ends the shares `ids`: not played before they expired.
pub async fn expire(db: &impl ConnectionTrait, ids: Vec<Uuid>, now: DateTime<Utc>) -> Result<(), DbErr> {
    end(Status::Expired, now)
        .filter(shares::Column::Id.is_in(ids))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every pending share that expired before `before`, whoever's it is;
/// answers how many.
pub async fn expire_overdue(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let expired = end(Status::Expired, now)
        .filter(shares::Column::Status.eq(Status::Pending))
        .filter(shares::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(expired.rows_affected)
}
