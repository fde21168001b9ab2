//! Sharing, a use case: a friend sends a track, from the app or the bot.
//!
//! [`create`] checks the note, the friendship and the hourly limit,
//! resolves the link and the track's metadata, then writes the share, its
//! recipient's first check (a live look soon, `detection::live`) and the
//! "new song" notice in one transaction (a crash cannot leave a share
//! nobody checks or nobody hears about), and tells the recipient's
//! subscriptions after commit.
use uuid::Uuid;

use crate::{
    accounts::users,
    app::App,
    detection::{check::CheckRecipient, live, schedule},
    error::{Error, Result},
    events::{Event, Topic},
    friends,
    jobs::Job as _,
    notify::Notice,
    shares::{self, Draft},
};
use chrono::{DateTime, TimeDelta, Utc};
use entity::{deliveries::EventKind, shares as share};
use sea_orm::ConnectionTrait;

/// Shares one sender may create per hour.
pub const HOURLY_LIMIT: u64 = 50;
pub const NOTE_MAX_CHARS: usize = 280;

/// What a sender asks to share.
pub struct NewShare {
    /// The recipient's handle.
    pub to: String,
    /// Any track link form.
    pub track: String,
    pub note: Option<String>,
}

/// Shares a track with a friend. Answers the share, and whether it is new
/// (false: the same pending share already existed and is answered instead
/// of a duplicate).
///
/// # Errors
/// `BadUserInput` for a note over [`NOTE_MAX_CHARS`], oneself as recipient,
/// or a link that names no track; `NotFound` for an unknown handle;
/// `Forbidden` when they are not friends; `RateLimited` past
/// [`HOURLY_LIMIT`] (or when Spotify asks us to wait);
/// `UpstreamUnavailable` when Spotify fails us.
#[tracing::instrument(skip(app, input), fields(sender_id = %sender))]
pub async fn create(app: &App, sender: Uuid, input: NewShare) -> Result<(share::Model, bool)> {
    let note = match input.note.as_deref().map(str::trim) {
        Some(note) if note.chars().count() > NOTE_MAX_CHARS => {
            return Err(Error::bad_input(
                "note",
                format!("a note can have at most {NOTE_MAX_CHARS} characters"),
            ));
        }
        Some("") | None => None,
        Some(note) => Some(note.to_owned()),
    };
    let recipient = users::get_by_handle(&app.db, &input.to).await?;
    if recipient.id == sender {
        return Err(Error::bad_input("to", "share songs with friends, not with yourself"));
    }
    if !friends::are_friends(&app.db, sender, recipient.id).await? {
        return Err(Error::Forbidden(format!(
            "@{0} isn't your friend yet: send `add {0}` first",
            recipient.handle
        )));
    }
    let now = app.clock.now();
    // Checked before Spotify is asked, and again in the transaction.
    over_hourly_limit(&app.db, sender, now).await?;
    let track_id = app.spotify.resolve(&input.track).await?;
    let track = app.spotify.track_for(sender, &track_id).await?;
    if let Some(existing) = shares::pending_between(&app.db, sender, recipient.id, &track.id).await? {
        return Ok((existing, false));
    }

    let first_check = schedule::first_check(now, track.duration_ms);
    let draft = Draft {
        sender_id: sender,
        recipient_id: recipient.id,
        track_id: track.id.clone(),
        note,
        expires_at: now + schedule::to_delta(app.settings.play_check.share_ttl),
        first_check,
    };
    let txn = crate::db::begin(&app.db).await?;
    // One sender's shares are made one at a time (on every replica), so the
    // limit and "the same pending share answers the existing one" hold
    // however many requests arrive at once.
    crate::db::serialize_on(&txn, &format!("shares-from:{sender}")).await?;
    over_hourly_limit(&txn, sender, now).await?;
    if let Some(existing) = shares::pending_between(&txn, sender, recipient.id, &track.id).await? {
        return Ok((existing, false));
    }
    let share = shares::insert(&txn, draft, now).await?;
    let first_look = live::next_look(std::slice::from_ref(&share), now, &app.settings.play_check, None);
    CheckRecipient {
        recipient_id: recipient.id,
    }
    .enqueue_at(&txn, first_look.map_or(first_check, |look| look.min(first_check)), now)
    .await?;
    let notice = Notice {
        user_id: recipient.id,
        kind: EventKind::ShareReceived,
        event_id: share.id,
        share_id: Some(share.id),
    };
    app.notify.fan_out(&txn, notice, now).await?;
    app.jobs.commit(txn).await?;
    metrics::counter!("shares_created_total").increment(1);
    app.events
        .publish(Event {
            user_id: recipient.id,
            topic: Topic::ShareReceived,
            subject_id: share.id,
        })
        .await;
    Ok((share, true))
}

/// `RateLimited` once `sender` made [`HOURLY_LIMIT`] shares in the hour
/// before `now`.
async fn over_hourly_limit(db: &impl ConnectionTrait, sender: Uuid, now: DateTime<Utc>) -> Result<()> {
    if shares::sent_since(db, sender, now - TimeDelta::hours(1)).await? >= HOURLY_LIMIT {
        return Err(Error::RateLimited {
            message: format!("you can share {HOURLY_LIMIT} songs an hour: try again a little later"),
            retry_after: Some(std::time::Duration::from_secs(600)),
        });
    }
    Ok(())
}
