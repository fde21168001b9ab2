//! The `warn_consent_expiry` job: Spotify refresh tokens die six months
//! after the first consent, and refreshing does not extend them; about two
//! weeks before, each person is told once — push and Messenger, with the
//! link that reconnects in one tap ([`Spotify::warn_expiring`]).
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::Spotify;
use crate::jobs::{Job, JobError, Outcome};

/// Warns the people whose consent runs out soon. One such job exists (its
/// dedupe key is fixed), whatever the number of replicas; it reschedules
/// itself every [`EVERY`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WarnConsentExpiry {}

/// How often the job looks.
pub const EVERY: TimeDelta = TimeDelta::hours(6);

impl Job for WarnConsentExpiry {
    const KIND: &'static str = "warn_consent_expiry";
    type Context = Spotify;

    fn dedupe_key(&self) -> Option<String> {
        Some("spotify:consent-expiry".into())
    }

    #[tracing::instrument(skip_all)]
    async fn run(&self, spotify: &Spotify) -> Result<Outcome, JobError> {
        // A batch at a time: a full batch means more are due now.
        let warned = spotify.warn_expiring().await?;
        let now = spotify.clock.now();
        Ok(Outcome::RunAt(if warned >= super::vault::WARN_BATCH {
            now
        } else {
            now + EVERY
        }))
    }
}
