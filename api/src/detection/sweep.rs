//! The `sweep_shares` job: the safety net that keeps "every share ends".
//!
//! Hourly, it expires pending shares an hour past their expiry (their
//! recipient's checks may have died on an outage that outlived every retry)
//! and brings dead check jobs of recipients with pending shares back to
//! life. One such job exists for the whole database, whatever the number
//! of replicas.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QuerySelect as _, sea_query::Expr,
};
use uuid::Uuid;

use super::check;
use crate::{
    app::App,
    jobs::{JobError, Outcome, queue},
};
use entity::{jobs, shares, shares::Status};

pub const KIND: &str = "sweep_shares";
pub const EVERY: TimeDelta = TimeDelta::hours(1);
/// How late a share may be before the sweep expires it without a check.
const GRACE: TimeDelta = TimeDelta::hours(1);

pub async fn enqueue(
    db: &impl ConnectionTrait,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    queue::enqueue(db, KIND, &serde_json::json!({}), run_at, Some("sweep:shares"), now).await
}

#[tracing::instrument(skip_all)]
pub async fn run(app: &App) -> Result<Outcome, JobError> {
    let now = app.clock.now();
    let expired = shares::Entity::update_many()
        .col_expr(shares::Column::Status, Expr::value(Status::Expired))
        .col_expr(shares::Column::NextCheckAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
        .filter(shares::Column::Status.eq(Status::Pending))
        .filter(shares::Column::ExpiresAt.lt(now - GRACE))
        .exec(&app.db)
        .await?;
    if expired.rows_affected > 0 {
        tracing::warn!(count = expired.rows_affected, "expired shares whose checks had stopped");
    }
    let dead: Vec<String> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Payload)
        .filter(jobs::Column::Kind.eq(check::KIND))
        .filter(jobs::Column::Status.eq(jobs::Status::Dead))
        .into_tuple()
        .all(&app.db)
        .await?;
    for payload in dead {
        let Ok(payload) = serde_json::from_str::<check::Payload>(&payload) else {
            continue;
        };
        if has_pending(app, payload.recipient_id).await? {
            check::enqueue(&app.db, payload.recipient_id, now, now).await?;
        }
    }
    Ok(Outcome::RunAt(now + EVERY))
}

async fn has_pending(app: &App, recipient: Uuid) -> Result<bool, sea_orm::DbErr> {
    Ok(shares::Entity::find()
        .filter(shares::Column::RecipientId.eq(recipient))
        .filter(shares::Column::Status.eq(Status::Pending))
        .one(&app.db)
        .await?
        .is_some())
}
