//! The `sweep_shares` job: the safety net that keeps "every share ends".
//!
//! Hourly, it expires pending shares an hour past their expiry (their
//! recipient's checks may have died on an outage that outlived every retry)
//! and brings dead check jobs of recipients with pending shares back to
//! life. One such job exists for the whole database, whatever the number
//! of replicas. Shares whose expiry fell inside a pause Spotify ordered
//! (and the hour after it) are left to their first check after the pause
//! (see `check`).
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::check::CheckRecipient;
use crate::{
    app::App,
    jobs::{self, Job, JobError, Outcome},
    receipts,
    shares::lifecycle,
};

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
    let mut before = now - GRACE;
    if let Some(pause) = app.spotify.client().latest_pause().await?
        && pause.until + GRACE > now
    {
        before = before.min(pause.since);
    }
    let txn = crate::db::begin(&app.db).await?;
    let expired = receipts::expired_overdue(app, &txn, before, now).await?;
    app.jobs.commit(txn).await?;
    if !expired.is_empty() {
        tracing::warn!("expired shares whose checks had stopped");
    }
    expired.publish(app).await;
    for check in jobs::dead::<CheckRecipient>(&app.db).await? {
        if lifecycle::has_pending(&app.db, check.recipient_id).await? {
            check.enqueue(&app.db, now).await?;
        }
    }
    Ok(Outcome::RunAt(now + EVERY))
}
