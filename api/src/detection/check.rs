//! The `check_recipient` job: one recipient's pending shares, checked
//! with one `currently-playing` call while they are watched live and one
//! `recently-played` call when shares are due, however many shares.
//!
//! One job per recipient (deduplicated on `check:<recipient id>`) runs at
//! the earliest of: a live look (`live.rs`: every `LIVE_INTERVAL` while a
//! share was opened or made in the last `LIVE_WINDOW`, sooner when a play
//! is about to count), a share's next `recently-played` check, an expiry.
//! The live look records listening and played steps at once; the
//! `recently-played` check reads plays after the oldest pending share,
//! turns matches into play events (plays the live looks missed), moves the
//! due shares on to their next check, sooner for a heavy listener whose
//! answer was full (or expires them), and the job reschedules itself.
//! Without a usable Spotify link the checks pause (shares show no
//! `nextCheckAt`) but expiry still happens on time. Plays of local files
//! and items that are not catalogue tracks are skipped.
//!
//! Every call spends from the Spotify app's budget (`spotify::budget`):
//! the live look as a live check, the `recently-played` check as a receipt.
//! A live look the budget refuses is skipped (the live looks stop until it
//! has room); a `recently-played` check it refuses moves to when it has
//! room, like a pause; while the budget is tight, checks past a share's
//! fast window are stretched. Receipts are never dropped, only later.
//!
//! While Spotify has paused this server's calls (a 429, or the app's daily
//! quota), the due shares' next check moves to the end of the pause and
//! the job comes back then. Expiry is re-evaluated fairly: a share whose
//! expiry fell inside the pause stays pending until that first check after
//! it, which still counts any play since the share was made (Spotify's
//! history keeps the last 50 plays), and only then expires it.
use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    live::{self, Seen},
    matching::SharedTracks,
    schedule,
};
use crate::{
    app::App,
    jobs::{Job, JobError, Outcome},
    receipts::{self, Told},
    shares::lifecycle,
    spotify::{answers::PlayHistory, budget::Priority, client::SpotifyError, vault::TokenError},
};
use entity::shares;

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
    let settings = &app.settings.play_check;
    let mut pending = lifecycle::pending_for(&app.db, recipient).await?;
    if pending.is_empty() {
        return Ok(Outcome::Done);
    }
    let is_due = |s: &shares::Model| is_due(s, now);
    let live = live::is_live(&pending, now, settings);
    if !live && !pending.iter().any(is_due) {
        return Ok(next_run(&pending, None));
    }

    let mut seen = Seen::default();
    // When the budget refused a live look: none before then.
    let mut live_refused = None;
    if live {
        let current = match ask(app, recipient, |token| async move {
            app.spotify.client().currently_playing(&token, Priority::Live).await
        })
        .await
        {
            Ok(current) => current,
            Err(Unavailable::OverBudget(wait)) => {
                live_refused = Some(now + schedule::to_delta(wait));
                None
            }
            Err(unavailable) => return unavailable.outcome(app, &pending, now).await,
        };
        if live_refused.is_none() {
            metrics::counter!("detection_checks_total", "endpoint" => "currently-playing").increment(1);
        }
        if let Some(current) = current {
            let shared = SharedTracks::of(app, &pending).await?;
            seen = live::observe(app, &pending, &shared, &current, now).await?;
            pending.retain(|s| !seen.played.contains(&s.id));
        }
    }
    let live_look = live::next_look(&pending, now, settings, seen.mark).map(|at| at.max(live_refused.unwrap_or(at)));
    if !pending.iter().any(is_due) {
        return Ok(next_run(&pending, live_look));
    }

    let after = pending.iter().map(|s| s.created_at).min();
    let plays = match ask(app, recipient, |token| async move {
        app.spotify
            .client()
            .recently_played(&token, after, schedule::HISTORY as u8, Priority::Receipts)
            .await
    })
    .await
    {
        Ok(plays) => plays,
        Err(Unavailable::OverBudget(wait)) => {
            return when_budget_allows(app, &pending, now + schedule::to_delta(wait), live_look).await;
        }
        Err(unavailable) => return unavailable.outcome(app, &pending, now).await,
    };
    metrics::counter!("detection_checks_total", "endpoint" => "recently-played").increment(1);
    let tight = app.spotify.client().tight();
    let heavy = heavy_listener(&plays, now);

    let shared = if plays.is_empty() {
        SharedTracks::default()
    } else {
        SharedTracks::of(app, &pending).await?
    };
    let mut reschedule: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
    let mut expire = Vec::new();
    // When each share still pending after this check is next due. A share
    // added meanwhile marks this job to run again at once (see `enqueue`),
    // so these are all the job needs to know.
    let mut later = Vec::new();
    for share in &pending {
        if let Some(played_at) = first_play(share, &plays, &shared) {
            receipts::record_play(app, share, played_at, now).await?;
        } else if is_due(share) {
            match schedule::next_check(share.created_at, share.expires_at, now, settings, heavy) {
                Some(at) => {
                    let at = if tight {
                        schedule::stretched(share.created_at, share.expires_at, now, at, settings)
                    } else {
                        at
                    };
                    reschedule.entry(at).or_default().push(share.id);
                    later.push(due_at(Some(at), share.expires_at));
                }
                None => expire.push(share.id),
            }
        } else {
            later.push(due_at(share.next_check_at, share.expires_at));
        }
    }
    move_on(app, reschedule, expire, now).await?;
    let next = later.into_iter().chain(live_look).min();
    Ok(next.map_or(Outcome::Done, Outcome::RunAt))
}

/// Moves the due shares to their next checks and ends the expired ones.
async fn move_on(
    app: &App,
    mut reschedule: BTreeMap<DateTime<Utc>, Vec<Uuid>>,
    expire: Vec<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    if reschedule.len() == 1 && expire.is_empty() {
        // One statement: no transaction needed.
        if let Some((at, ids)) = reschedule.pop_first() {
            lifecycle::next_check(&app.db, ids, Some(at), now).await?;
        }
        return Ok(());
    }
    if reschedule.is_empty() && expire.is_empty() {
        return Ok(());
    }
    let txn = crate::db::begin(&app.db).await?;
    for (at, ids) in reschedule {
        lifecycle::next_check(&txn, ids, Some(at), now).await?;
    }
    let told = receipts::expired(app, &txn, expire, now).await?;
    app.jobs.commit(txn).await?;
    told.publish(app).await;
    Ok(())
}

/// A full answer means a heavy listener whose older plays may have fallen
/// off Spotify's history: their interval, from how long the 50 took.
fn heavy_listener(plays: &[PlayHistory], now: DateTime<Utc>) -> Option<TimeDelta> {
    if plays.len() < schedule::HISTORY {
        return None;
    }
    let oldest = plays.iter().map(|p| p.played_at).min()?;
    let interval = schedule::heavy_interval(oldest, now);
    metrics::counter!("detection_full_answers_total").increment(1);
    tracing::info!(
        interval_secs = interval.num_seconds(),
        "a full recently-played answer: checking sooner"
    );
    Some(interval)
}

/// The budget has no room for a `recently-played` check before `resume`:
/// the due shares' check moves there, the job comes back then (or at the
/// next live look, if sooner). Nothing is dropped, expiry included: a share
/// due to expire is expired by the check that finds it unplayed.
async fn when_budget_allows(
    app: &App,
    pending: &[shares::Model],
    resume: DateTime<Utc>,
    live_look: Option<DateTime<Utc>>,
) -> Result<Outcome, JobError> {
    let now = app.clock.now();
    let due = pending.iter().filter(|s| is_due(s, now)).map(|s| s.id).collect();
    lifecycle::next_check(&app.db, due, Some(resume), now).await?;
    Ok(Outcome::RunAt(live_look.map_or(resume, |look| look.min(resume))))
}

/// Why there is nothing to look at.
enum Unavailable {
    /// Not linked, or must relink: wait for them.
    Paused,
    RateLimited(std::time::Duration),
    /// The Spotify budget has no room for this call for this long.
    OverBudget(std::time::Duration),
    Failed(String),
}

impl Unavailable {
    /// What the job does about it. While Spotify has paused our calls, the
    /// due shares' next check moves to the end of the pause, and the job
    /// comes back then.
    async fn outcome(self, app: &App, pending: &[shares::Model], now: DateTime<Utc>) -> Result<Outcome, JobError> {
        match self {
            Self::Paused => pause(app, pending, now).await,
            Self::RateLimited(wait) => {
                let resume = now + schedule::to_delta(wait);
                let due = pending.iter().filter(|s| is_due(s, now)).map(|s| s.id).collect();
                lifecycle::next_check(&app.db, due, Some(resume), now).await?;
                Ok(Outcome::RunAt(resume))
            }
            Self::OverBudget(wait) => when_budget_allows(app, pending, now + schedule::to_delta(wait), None).await,
            Self::Failed(message) => Err(JobError::retry(message)),
        }
    }
}

/// One call with the recipient's token, through the one Spotify client
/// (refreshing the token once on a 401).
async fn ask<T, F, Fut>(app: &App, recipient: Uuid, call: F) -> Result<T, Unavailable>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, SpotifyError>>,
{
    let token = app.spotify.access_token(recipient).await.map_err(unavailable)?;
    match call(token.clone()).await {
        Err(SpotifyError::Unauthorized) => {
            let fresh = app
                .spotify
                .refresh_after_rejection(recipient, &token)
                .await
                .map_err(unavailable)?;
            call(fresh).await.map_err(|e| unavailable(TokenError::Spotify(e)))
        }
        other => other.map_err(|e| unavailable(TokenError::Spotify(e))),
    }
}

fn unavailable(err: TokenError) -> Unavailable {
    match err {
        TokenError::NotLinked | TokenError::RelinkRequired => Unavailable::Paused,
        TokenError::Spotify(SpotifyError::RateLimited(wait)) => Unavailable::RateLimited(wait),
        TokenError::Spotify(SpotifyError::OverBudget(wait)) => Unavailable::OverBudget(wait),
        TokenError::Spotify(SpotifyError::Unauthorized) => {
            Unavailable::Failed("spotify refused a freshly refreshed token".into())
        }
        other => Unavailable::Failed(other.to_string()),
    }
}

/// The earliest play of the shared track after the share was made. Local
/// files and other items without a catalogue id never match.
fn first_play(share: &shares::Model, plays: &[PlayHistory], shared: &SharedTracks) -> Option<DateTime<Utc>> {
    plays
        .iter()
        .filter(|p| p.played_at > share.created_at && p.track().is_some_and(|t| shared.matches(share, t)))
        .map(|p| p.played_at)
        .min()
}

/// No usable link: shares wait (no `nextCheckAt`), expired ones end, and
/// the job comes back when the next share would expire.
async fn pause(app: &App, pending: &[shares::Model], now: DateTime<Utc>) -> Result<Outcome, JobError> {
    let (ended, waiting): (Vec<_>, Vec<_>) = pending.iter().partition(|s| s.expires_at <= now);
    let txn = crate::db::begin(&app.db).await?;
    let told: Told = receipts::expired(app, &txn, ended.iter().map(|s| s.id).collect(), now).await?;
    lifecycle::next_check(&txn, waiting.iter().map(|s| s.id).collect(), None, now).await?;
    app.jobs.commit(txn).await?;
    told.publish(app).await;
    Ok(match waiting.iter().map(|s| s.expires_at).min() {
        Some(at) => Outcome::RunAt(at),
        None => Outcome::Done,
    })
}

/// Whether `share` needs a `recently-played` check (or its expiry) at `now`.
fn is_due(share: &shares::Model, now: DateTime<Utc>) -> bool {
    share.next_check_at.is_none_or(|t| t <= now) || share.expires_at <= now
}

/// When the job should run next: the earliest check or expiry among the
/// recipient's pending shares, or the next live look if sooner.
fn next_run(pending: &[shares::Model], live_look: Option<DateTime<Utc>>) -> Outcome {
    let next = pending
        .iter()
        .map(|s| due_at(s.next_check_at, s.expires_at))
        .chain(live_look)
        .min();
    next.map_or(Outcome::Done, Outcome::RunAt)
}

/// When a pending share needs the job next: its next check, or its expiry
/// if that comes first (or if checks are paused).
fn due_at(next_check_at: Option<DateTime<Utc>>, expires_at: DateTime<Utc>) -> DateTime<Utc> {
    next_check_at.unwrap_or(expires_at).min(expires_at)
}
