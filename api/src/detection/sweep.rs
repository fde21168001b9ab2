//! The `sweep_shares` job: the safety net that keeps "every share ends".
//!
//! Hourly, it expires pending shares an hour past their expiry (their
//! recipient's checks may have died on an outage that outlived every retry)
//! and brings dead check jobs of recipients with pending shares back to
//! life. One such job exists for the whole database, whatever the number
//! of replicas.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr};
use uuid::Uuid;

use serde::{Deserialize, Serialize};

use super::check::CheckRecipient;
use crate::{
    app::App,
    jobs::{self, Job, JobError, Outcome},
};
use entity::{shares, shares::Status};

/// Expires forgotten shares and revives dead checks. One such job exists
/// (its dedupe key is fixed); it reschedules itself every [`EVERY`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SweepShares {}

impl Job for SweepShares {
    const KIND: &'static str = "sweep_shares";
    type Context = App;

    fn dedupe_key(&self) -> Option<String> {
        Some("sweep:shares".into())
    }

    #[tracing::instrument(skip_all)]
    async fn run(&self, app: &App) -> Result<Outcome, JobError> {
        sweep(app).await
    }
}

pub const EVERY: TimeDelta = TimeDelta::hours(1);
/// How late a share may be before the sweep expires it without a check.
const GRACE: TimeDelta = TimeDelta::hours(1);

async fn sweep(app: &App) -> Result<Outcome, JobError> {
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
    for check in jobs::dead::<CheckRecipient>(&app.db).await? {
        if has_pending(app, check.recipient_id).await? {
            check.enqueue(&app.db, now).await?;
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
