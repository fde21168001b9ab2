//! Live checks, and opening a share.
//!
//! While a recipient has a pending share they opened in the last
//! `LIVE_WINDOW` (or got in the last [`UNOPENED_WINDOW`]: one not opened is
//! seldom played at once, and each look spends the Spotify budget), their
//! check job (`check.rs`, one job per recipient) also
//! asks Spotify's `currently-playing` every `LIVE_INTERVAL` — one call
//! however many shares — and records at once what it shows: `LISTENING`
//! when a shared track plays, `PLAYED` once it has played [`PLAYED_AFTER`]
//! (or, a shorter track, to within [`END_SLACK`] of its end), with the
//! play's start (now − `progress_ms`) as `playedAt`. When a shared track is
//! seen playing, the next look is timed for the moment it will count.
//! `recently-played` stays the source for plays these looks missed, and
//! for all of them while the Spotify budget has no room for live looks
//! (they stop, and start again once it has); a
//! share recorded here is no longer pending, so it is never recorded twice.
//!
//! Opening ([`open`], [`open_link`]) records `OPENED` and starts the live
//! looks: the first one [`LIVE_INTERVAL`](crate::config::PlayCheckSettings)
//! later, when a play may have begun.
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{check::CheckRecipient, matching::SharedTracks, schedule::to_delta};
use crate::{
    app::App,
    config::PlayCheckSettings,
    error::{Error, Result},
    jobs::Job as _,
    receipts::{self, Told},
    shares,
    spotify::answers::CurrentlyPlaying,
};
use entity::shares as share;

/// A play counts once this much of it has played (what Spotify's own
/// recently-played requires to list a play).
pub const PLAYED_AFTER: TimeDelta = TimeDelta::seconds(30);
/// A track shorter than [`PLAYED_AFTER`] counts when a look sees it this
/// close to its end: played to its end.
pub const END_SLACK: TimeDelta = TimeDelta::seconds(2);
/// A look timed for the moment a play counts comes this much after it, so
/// that the progress Spotify shows has surely reached it.
const MARK_MARGIN: TimeDelta = TimeDelta::seconds(1);

/// How long a share nobody opened keeps its recipient watched live (at
/// most `LIVE_WINDOW`).
pub const UNOPENED_WINDOW: TimeDelta = TimeDelta::minutes(2);

/// Until when `share` keeps its recipient watched live: `window` after it
/// was opened, else [`UNOPENED_WINDOW`] (at most `window`) after it was
/// made.
pub fn live_until(share: &share::Model, window: TimeDelta) -> DateTime<Utc> {
    match share.opened_at {
        Some(opened_at) => opened_at.max(share.created_at) + window,
        None => share.created_at + window.min(UNOPENED_WINDOW),
    }
}

/// Whether any of `pending` keeps its recipient watched live at `now`.
pub fn is_live(pending: &[share::Model], now: DateTime<Utc>, settings: &PlayCheckSettings) -> bool {
    let window = to_delta(settings.live_window);
    pending.iter().any(|s| live_until(s, window) > now)
}

/// How much of a `duration_ms` track must have played for it to count.
pub fn counts_after(duration_ms: i64) -> TimeDelta {
    let whole = TimeDelta::milliseconds(duration_ms) - END_SLACK;
    PLAYED_AFTER.min(whole).max(TimeDelta::zero())
}

/// What a live look saw and recorded.
#[derive(Debug, Default)]
pub struct Seen {
    /// Shares it recorded played.
    pub played: Vec<Uuid>,
    /// When a play in progress of a shared track will count: look again then.
    pub mark: Option<DateTime<Utc>>,
}

/// Records what `current` shows for `pending` shares, as seen at `now`:
/// listening and played steps, in one transaction, told after it commits.
///
/// # Errors
/// `Internal` for the database.
pub async fn observe(
    app: &App,
    pending: &[share::Model],
    shared: &SharedTracks,
    current: &CurrentlyPlaying,
    now: DateTime<Utc>,
) -> Result<Seen> {
    let mut seen = Seen::default();
    // Local files, episodes and ads are never a shared track.
    let Some(item) = current.item.track() else {
        return Ok(seen);
    };
    let progress = TimeDelta::milliseconds(current.progress_ms.unwrap_or(0).max(0));
    let started_at = now - progress;
    let needed = counts_after(item.duration_ms);
    // A play that began before the share was made is not a receipt for it.
    let playing: Vec<&share::Model> = pending
        .iter()
        .filter(|s| started_at > s.created_at && shared.matches(s, item))
        .collect();
    if playing.is_empty() {
        return Ok(seen);
    }
    let txn = crate::db::begin(&app.db).await?;
    let mut told = Told::default();
    for share in playing {
        if current.is_playing {
            told = told.and(receipts::listening(app, &txn, share, started_at, now).await?);
        }
        if progress >= needed {
            told = told.and(receipts::played(app, &txn, share, started_at, now).await?);
            seen.played.push(share.id);
        } else if current.is_playing {
            let mark = started_at + needed + MARK_MARGIN;
            seen.mark = Some(seen.mark.map_or(mark, |m| m.min(mark)));
        }
    }
    app.jobs.commit(txn).await?;
    told.publish(app).await;
    Ok(seen)
}

/// When to look live next, if at all: every `LIVE_INTERVAL` while a share
/// of `pending` keeps its recipient watched, sooner when a play will count
/// (`mark`, also past the window: that play is under way).
pub fn next_look(
    pending: &[share::Model],
    now: DateTime<Utc>,
    settings: &PlayCheckSettings,
    mark: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let tick = now + to_delta(settings.live_interval);
    if let Some(mark) = mark.filter(|m| *m > now) {
        return Some(mark.min(tick));
    }
    let window = to_delta(settings.live_window);
    let until = pending.iter().map(|s| live_until(s, window)).max()?;
    (tick < until).then_some(tick)
}

/// The recipient says they opened a share (`markShareOpened`): recorded
/// once, and only while no later step happened. Answers the share as it
/// stands.
///
/// # Errors
/// `NotFound` unless `me` sent or received it; `Forbidden` for its sender.
#[tracing::instrument(skip(app), fields(user_id = %me))]
pub async fn open(app: &App, me: Uuid, id: Uuid) -> Result<share::Model> {
    let share = shares::get(&app.db, me, id)
        .await?
        .ok_or_else(|| Error::not_found("no such share"))?;
    if share.recipient_id != me {
        return Err(Error::Forbidden(
            "only the person a song was shared with can open it".into(),
        ));
    }
    opened(app, &share).await?;
    Ok(shares::get(&app.db, me, id).await?.unwrap_or(share))
}

/// What a tracked link comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Genuine: on to this track (opening recorded if it was the first time).
    Open { track_id: String },
    /// Genuine but past its share's expiry: nothing recorded.
    Expired { track_id: String },
    /// Not a link this server made for that share's recipient: nothing recorded.
    Unknown,
}

/// `GET /s/{token}`: a recipient tapped the link to a shared track.
///
/// # Errors
/// `Internal` for the database.
pub async fn open_link(app: &App, token: &str) -> Result<Link> {
    let Some(token) = app.tracked_links.read(token) else {
        return Ok(Link::Unknown);
    };
    let Some(share) = shares::find(&app.db, token.share_id).await? else {
        return Ok(Link::Unknown);
    };
    if !app.tracked_links.verify(&token, share.recipient_id) {
        return Ok(Link::Unknown);
    }
    let track_id = share.track_id.clone();
    if token.expires_at <= app.clock.now() {
        return Ok(Link::Expired { track_id });
    }
    opened(app, &share).await?;
    Ok(Link::Open { track_id })
}

/// Records `OPENED` (first time only) and, with it, the recipient's first
/// live look.
async fn opened(app: &App, share: &share::Model) -> Result<()> {
    let now = app.clock.now();
    let txn = crate::db::begin(&app.db).await?;
    let told = receipts::opened(app, &txn, share, now).await?;
    if !told.is_empty() {
        CheckRecipient {
            recipient_id: share.recipient_id,
        }
        .enqueue_at(&txn, now + to_delta(app.settings.play_check.live_interval), now)
        .await?;
    }
    app.jobs.commit(txn).await?;
    told.publish(app).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_seconds_or_the_whole_of_a_shorter_track() {
        assert_eq!(counts_after(207_959), TimeDelta::seconds(30));
        assert_eq!(counts_after(20_000), TimeDelta::seconds(18));
        assert_eq!(counts_after(1_000), TimeDelta::zero());
    }
}
