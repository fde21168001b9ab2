//! The `prune_devices` job: push tokens no app install has registered for
//! [`STALE_AFTER`] are forgotten. FCM: "For Android, when stale tokens reach
//! 270 days of inactivity, FCM considers them expired"; apps register
//! their token again on start (`registerDevice`), which keeps a live
//! install's device ([manage tokens]).
//!
//! [manage tokens]: https://firebase.google.com/docs/cloud-messaging/manage-tokens
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::Notifier;
use crate::{
    devices,
    jobs::{Job, JobError, Outcome},
};

/// A token unregistered for this long is gone.
pub const STALE_AFTER: TimeDelta = TimeDelta::days(270);
/// How often the job runs.
pub const EVERY: TimeDelta = TimeDelta::days(1);

/// Forgets stale push tokens. One such job exists (its dedupe key is
/// fixed), whatever the number of replicas; it reschedules itself every
/// [`EVERY`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PruneDevices {}

impl Job for PruneDevices {
    const KIND: &'static str = "prune_devices";
    type Context = Notifier;

    fn dedupe_key(&self) -> Option<String> {
        Some("devices:prune".into())
    }

    #[tracing::instrument(skip_all)]
    async fn run(&self, notifier: &Notifier) -> Result<Outcome, JobError> {
        let now = notifier.clock.now();
        let pruned = devices::prune(&notifier.db, now - STALE_AFTER).await?;
        if pruned > 0 {
            metrics::counter!("devices_pruned_total").increment(pruned);
            tracing::info!(count = pruned, "forgot push tokens no app registered for 270 days");
        }
        Ok(Outcome::RunAt(now + EVERY))
    }
}
