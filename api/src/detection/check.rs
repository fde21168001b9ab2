//! The `check_recipient` job: one `recently-played` call for a recipient
//! serves every pending share they have.
//!
//! One job per recipient (deduplicated on `check:<recipient id>`) runs when
//! the earliest of their shares is due. It reads plays after the oldest
//! pending share, turns matches into play events, moves the due shares on
//! to their next check (or expires them), and reschedules itself for the
//! next due share. Without a usable Spotify link the checks pause (shares
//! show no `nextCheckAt`) but expiry still happens on time. Plays of local
//! files and items that are not catalogue tracks are skipped.
//!
//! While Spotify has paused this server's calls (a 429, or the app's daily
//! quota), the due shares' next check moves to the end of the pause and
//! the job comes back then. Expiry is re-evaluated fairly: a share whose
//! expiry fell inside the pause stays pending until that first check after
//! it, which still counts any play since the share was made (Spotify's
//! history keeps the last 50 plays), and only then expires it.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::schedule;
use crate::{
    app::App,
    events::{Event, Topic},
    jobs::{Job, JobError, Outcome},
    notify::Notice,
    shares::lifecycle,
    spotify::{answers::PlayHistory, client::SpotifyError, vault::TokenError},
};
use entity::{deliveries::EventKind, shares};

/// Checks one recipient's pending shares. Enqueued with
/// [`enqueue_at`](Job::enqueue_at): the recipient is then checked at that
/// time or earlier.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckRecipient {
    pub recipient_id: Uuid,
}

impl Job for CheckRecipient {
    const KIND: &'static str = "check_recipient";
    type Context = App;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("check:{}", self.recipient_id))
    }

    #[tracing::instrument(skip_all, fields(recipient_id = %self.recipient_id))]
    async fn run(&self, app: &App) -> Result<Outcome, JobError> {
        check(app, self.recipient_id).await
    }
}

async fn check(app: &App, recipient: Uuid) -> Result<Outcome, JobError> {
    let now = app.clock.now();
    let pending = lifecycle::pending_for(&app.db, recipient).await?;
    if pending.is_empty() {
        return Ok(Outcome::Done);
    }
    let is_due = |s: &shares::Model| s.next_check_at.is_none_or(|t| t <= now) || s.expires_at <= now;
    if !pending.iter().any(is_due) {
        return Ok(next_run(&pending));
    }

    let plays = match recent_plays(app, recipient, &pending).await {
        Ok(plays) => plays,
        Err(Unavailable::Paused) => return pause(app, &pending, now).await,
        Err(Unavailable::RateLimited(wait)) => {
            let resume = now + schedule::to_delta(wait);
            let due = pending.iter().filter(|s| is_due(s)).map(|s| s.id).collect();
            lifecycle::next_check(&app.db, due, Some(resume), now).await?;
            return Ok(Outcome::RunAt(resume));
        }
        Err(Unavailable::Failed(message)) => return Err(JobError::retry(message)),
    };
    metrics::counter!("detection_checks_total").increment(1);

    let mut reschedule: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
    let mut expire = Vec::new();
    // When each share still pending after this check is next due. A share
    // added meanwhile marks this job to run again at once (see `enqueue`),
    // so these are all the job needs to know.
    let mut later = Vec::new();
    for share in &pending {
        if let Some(played_at) = first_play(share, &plays) {
            record_play(app, share, played_at, now).await?;
        } else if is_due(share) {
            match schedule::next_check(share.created_at, share.expires_at, now, &app.settings.play_check) {
                Some(at) => {
                    reschedule.entry(at).or_default().push(share.id);
                    later.push(due_at(Some(at), share.expires_at));
                }
                None => expire.push(share.id),
            }
        } else {
            later.push(due_at(share.next_check_at, share.expires_at));
        }
    }
    let writes = reschedule.len() + usize::from(!expire.is_empty());
    if writes == 1 {
        // One statement: no transaction needed.
        match reschedule.pop_first() {
            Some((at, ids)) => lifecycle::next_check(&app.db, ids, Some(at), now).await?,
            None => lifecycle::expire(&app.db, expire, now).await?,
        }
    } else if writes > 1 {
        let txn = crate::db::begin(&app.db).await?;
        for (at, ids) in reschedule {
            lifecycle::next_check(&txn, ids, Some(at), now).await?;
        }
        if !expire.is_empty() {
            lifecycle::expire(&txn, expire, now).await?;
        }
        txn.commit().await?;
    }
    Ok(later.into_iter().min().map_or(Outcome::Done, Outcome::RunAt))
}

/// Why there are no plays to look at.
enum Unavailable {
    /// Not linked, or must relink: wait for them.
    Paused,
    RateLimited(std::time::Duration),
    Failed(String),
}

/// One `recently-played` call (refreshing the token once on a 401).
async fn recent_plays(app: &App, recipient: Uuid, pending: &[shares::Model]) -> Result<Vec<PlayHistory>, Unavailable> {
    let after = pending.iter().map(|s| s.created_at).min();
    let token = app.spotify.access_token(recipient).await.map_err(unavailable)?;
    match app.spotify.client().recently_played(&token, after, 50).await {
        Err(SpotifyError::Unauthorized) => {
            let fresh = app
                .spotify
                .refresh_after_rejection(recipient, &token)
                .await
                .map_err(unavailable)?;
            app.spotify
                .client()
                .recently_played(&fresh, after, 50)
                .await
                .map_err(|e| unavailable(TokenError::Spotify(e)))
        }
        other => other.map_err(|e| unavailable(TokenError::Spotify(e))),
    }
}

fn unavailable(err: TokenError) -> Unavailable {
    match err {
        TokenError::NotLinked | TokenError::RelinkRequired => Unavailable::Paused,
        TokenError::Spotify(SpotifyError::RateLimited(wait)) => Unavailable::RateLimited(wait),
        TokenError::Spotify(SpotifyError::Unauthorized) => {
            Unavailable::Failed("spotify refused a freshly refreshed token".into())
        }
        other => Unavailable::Failed(other.to_string()),
    }
}

/// The earliest play of the shared track after the share was made (Spotify
/// may report a relinked track under another id, with `linked_from`).
/// Local files and other items without a catalogue id never match.
fn first_play(share: &shares::Model, plays: &[PlayHistory]) -> Option<DateTime<Utc>> {
    plays
        .iter()
        .filter(|p| {
            p.track().is_some_and(|track| {
                track.id == share.track_id
                    || track.linked_from.as_ref().and_then(|l| l.id.as_deref()) == Some(share.track_id.as_str())
            })
        })
        .map(|p| p.played_at)
        .filter(|played_at| *played_at > share.created_at)
        .min()
}

/// Writes the play event and marks the share played, in one transaction,
/// once: a second worker finds the share no longer pending and writes
/// nothing. Then tells the sender and the recipient.
pub async fn record_play(
    app: &App,
    share: &shares::Model,
    played_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let txn = crate::db::begin(&app.db).await?;
    let Some(event) = lifecycle::played(&txn, share.id, played_at, now).await? else {
        return Ok(()); // someone else recorded it, or it was cancelled
    };
    let notice = Notice {
        user_id: share.sender_id,
        kind: EventKind::SharePlayed,
        event_id: event.id,
        share_id: Some(share.id),
    };
    app.notify.fan_out(&txn, notice, now).await?;
    app.jobs.commit(txn).await?;
    metrics::counter!("plays_detected_total").increment(1);
    metrics::histogram!("play_detection_delay_seconds")
        .record((now - played_at).num_milliseconds().max(0) as f64 / 1000.0);
    tracing::info!(share_id = %share.id, "share played");
    for user_id in [share.sender_id, share.recipient_id] {
        app.events
            .publish(Event {
                user_id,
                topic: Topic::SharePlayed,
                subject_id: event.id,
            })
            .await;
    }
    Ok(())
}

/// No usable link: shares wait (no `nextCheckAt`), expired ones end, and
/// the job comes back when the next share would expire.
async fn pause(app: &App, pending: &[shares::Model], now: DateTime<Utc>) -> Result<Outcome, JobError> {
    let (ended, waiting): (Vec<_>, Vec<_>) = pending.iter().partition(|s| s.expires_at <= now);
    let txn = crate::db::begin(&app.db).await?;
    if !ended.is_empty() {
        lifecycle::expire(&txn, ended.iter().map(|s| s.id).collect(), now).await?;
    }
    lifecycle::next_check(&txn, waiting.iter().map(|s| s.id).collect(), None, now).await?;
    txn.commit().await?;
    Ok(match waiting.iter().map(|s| s.expires_at).min() {
        Some(at) => Outcome::RunAt(at),
        None => Outcome::Done,
    })
}

/// When the job should run next: the earliest check or expiry among the
/// recipient's pending shares.
fn next_run(pending: &[shares::Model]) -> Outcome {
    let next = pending.iter().map(|s| due_at(s.next_check_at, s.expires_at)).min();
    next.map_or(Outcome::Done, Outcome::RunAt)
}

/// When a pending share needs the job next: its next check, or its expiry
/// if that comes first (or if checks are paused).
fn due_at(next_check_at: Option<DateTime<Utc>>, expires_at: DateTime<Utc>) -> DateTime<Utc> {
    next_check_at.unwrap_or(expires_at).min(expires_at)
}
