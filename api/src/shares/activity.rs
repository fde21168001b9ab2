//! The steps of a share's receipt, recorded once each and in order: the
//! recipient opened it, was seen listening, played it (with
//! [`lifecycle::played`](super::lifecycle::played)), or it expired or was
//! cancelled. Each step is a row of `share_activities` written in the same
//! transaction as the share's column it sets, and only when that column
//! changed: a second worker, a second tap on a link or a step that comes
//! too late (a played share seen listening again) writes nothing.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use entity::{
    share_activities::{self, Kind},
    shares::{self, Status},
};

/// A pending share climbed to `kind` at `at`: [`Kind::Opened`] (the
/// recipient opened it) or [`Kind::Listening`] (Spotify showed them playing
/// its track, started at `at`). Recorded the first time only, and never
/// below a step already reached (a share seen playing is not moved back to
/// opened; a played share is no longer pending). `None` when nothing
/// changed, or for any other kind.
pub async fn climbed(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    kind: Kind,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<share_activities::Model>, DbErr> {
    // The share's column for the step, and the steps it must not have reached.
    let (column, reached): (_, &[shares::Column]) = match kind {
        Kind::Opened => (
            shares::Column::OpenedAt,
            &[shares::Column::OpenedAt, shares::Column::ListeningAt],
        ),
        Kind::Listening => (shares::Column::ListeningAt, &[shares::Column::ListeningAt]),
        _ => return Ok(None),
    };
    let mut update = shares::Entity::update_many()
        .col_expr(column, Expr::value(at))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
        .filter(shares::Column::Id.eq(share_id))
        .filter(shares::Column::Status.eq(Status::Pending));
    for column in reached {
        update = update.filter(column.is_null());
    }
    if update.exec(db).await?.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(log(db, share_id, kind, at, now).await?))
}

/// Writes one step of one share (in the transaction that made it happen).
pub(super) async fn log(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    kind: Kind,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<share_activities::Model, DbErr> {
    row(share_id, kind, at, now).insert(db).await
}

/// A new step, to write; an answer sets who and what before.
pub(super) fn row(share_id: Uuid, kind: Kind, at: DateTime<Utc>, now: DateTime<Utc>) -> share_activities::ActiveModel {
    share_activities::ActiveModel {
        id: Set(Uuid::now_v7()),
        share_id: Set(share_id),
        kind: Set(kind),
        at: Set(at),
        created_at: Set(now),
        user_id: Set(None),
        detail: Set(None),
        source_mid: Set(None),
    }
}

/// Steps with their shares, many at once, in one joined query (the
/// subscriptions' loader).
pub async fn with_shares(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (share_activities::Model, shares::Model)>, DbErr> {
    let found = share_activities::Entity::find()
        .find_also_related(shares::Entity)
        .filter(share_activities::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(step, share)| Some((step.id, (step, share?))))
        .collect())
}
