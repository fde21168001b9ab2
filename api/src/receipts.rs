//! Receipts, a use case: the steps of a share's listen receipt — opened,
//! listening, played — and its end — expired, cancelled — each recorded
//! once and in order (`shares::activity`, `shares::lifecycle`), pushed to
//! its sender when they chose that step (`Notifier::fan_out` decides), and
//! told live to the sender and the recipient (`shareActivity`; a play also
//! `sharePlayed`) on every replica.
//!
//! Each function records in the caller's transaction and answers a
//! [`Told`]: the live events to publish once that transaction commits
//! ([`Told::publish`]). Who detects a step is the caller's business: the
//! tracked link and the app (opened, `detection::live`), the live checks
//! (listening, played), `recently-played` (played), the schedule and the
//! sweep (expired), the sender (cancelled).
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::{
    app::App,
    error::Result,
    events::{Event, Topic},
    notify::Notice,
    shares::{
        self, activity,
        lifecycle::{self, Ended},
    },
};
use entity::{deliveries::EventKind, share_activities, share_activities::Kind, shares as share};

/// What recording steps changed, to tell once their transaction commits.
/// Empty when nothing changed (a step already recorded, or too late).
#[must_use = "publish it once the transaction commits"]
#[derive(Debug, Default)]
pub struct Told {
    events: Vec<Event>,
    /// The steps recorded, for metrics.
    steps: Vec<Kind>,
    /// Seconds from each recorded play to its detection.
    delays: Vec<f64>,
}

impl Told {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Both lists of things to tell, in order.
    pub fn and(mut self, other: Told) -> Told {
        self.events.extend(other.events);
        self.steps.extend(other.steps);
        self.delays.extend(other.delays);
        self
    }

    /// A reaction or reply to `share` (recorded by the caller): its
    /// sender and its recipient hear of it.
    pub fn answered(share: &share::Model, step: &share_activities::Model) -> Told {
        let mut told = Told::default();
        told.step(share, step);
        told
    }

    /// A step of `share`: its sender and its recipient hear of it.
    fn step(&mut self, share: &share::Model, step: &share_activities::Model) {
        self.steps.push(step.kind);
        self.tell_both(share, Topic::ShareActivity, step.id);
    }

    fn tell_both(&mut self, share: &share::Model, topic: Topic, subject_id: Uuid) {
        for user_id in [share.sender_id, share.recipient_id] {
            self.events.push(Event {
                user_id,
                topic,
                subject_id,
            });
        }
    }

    /// Publishes the events (call after the commit) and counts the steps.
    pub async fn publish(self, app: &App) {
        for step in &self.steps {
            metrics::counter!("share_steps_total", "step" => format!("{step:?}").to_lowercase()).increment(1);
        }
        for delay in self.delays {
            metrics::counter!("plays_detected_total").increment(1);
            metrics::histogram!("play_detection_delay_seconds").record(delay);
        }
        for event in self.events {
            app.events.publish(event).await;
        }
    }
}

/// The sender's notice of a step, if they chose to hear about it
/// (`fan_out` checks their choice).
async fn notify_sender(
    app: &App,
    db: &impl ConnectionTrait,
    share: &share::Model,
    kind: EventKind,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let notice = Notice {
        user_id: share.sender_id,
        kind,
        event_id,
        share_id: Some(share.id),
    };
    app.notify.fan_out(db, notice, now).await?;
    Ok(())
}

/// The recipient opened `share` now (its tracked link, or the app said so).
pub async fn opened(
    app: &App,
    db: &impl ConnectionTrait,
    share: &share::Model,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    climbed(app, db, share, Kind::Opened, now, now).await
}

/// Spotify shows the recipient playing `share`'s track, started at
/// `started_at`.
pub async fn listening(
    app: &App,
    db: &impl ConnectionTrait,
    share: &share::Model,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    climbed(app, db, share, Kind::Listening, started_at, now).await
}

/// Records a step below played (once), notifies the sender if they chose
/// it, and tells both.
async fn climbed(
    app: &App,
    db: &impl ConnectionTrait,
    share: &share::Model,
    kind: Kind,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    let mut told = Told::default();
    let event_kind = match kind {
        Kind::Opened => EventKind::ShareOpened,
        Kind::Listening => EventKind::ShareListening,
        _ => return Ok(told),
    };
    if let Some(step) = activity::climbed(db, share.id, kind, at, now).await? {
        notify_sender(app, db, share, event_kind, step.id, now).await?;
        told.step(share, &step);
        tracing::info!(share_id = %share.id, step = ?kind, "share step");
    }
    Ok(told)
}

/// The recipient played `share` at `played_at` (the play's start): the
/// play event (the listen receipt), once, however many workers race.
pub async fn played(
    app: &App,
    db: &impl ConnectionTrait,
    share: &share::Model,
    played_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    let mut told = Told::default();
    let Some(played) = lifecycle::played(db, share.id, played_at, now).await? else {
        return Ok(told); // someone else recorded it, or it was cancelled
    };
    notify_sender(app, db, share, EventKind::SharePlayed, played.event.id, now).await?;
    told.step(share, &played.step);
    told.tell_both(share, Topic::SharePlayed, played.event.id);
    told.delays
        .push((now - played_at).num_milliseconds().max(0) as f64 / 1000.0);
    tracing::info!(share_id = %share.id, "share played");
    Ok(told)
}

/// Records a play in a transaction of its own and tells everyone.
pub async fn record_play(
    app: &App,
    share: &share::Model,
    played_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin(&app.db).await?;
    let told = played(app, &txn, share, played_at, now).await?;
    app.jobs.commit(txn).await?;
    told.publish(app).await;
    Ok(())
}

/// Ends the pending shares `ids`, unplayed before they expired.
pub async fn expired(app: &App, db: &impl ConnectionTrait, ids: Vec<Uuid>, now: DateTime<Utc>) -> Result<Told, DbErr> {
    let ended = lifecycle::expire(db, ids, now).await?;
    tell_expired(app, db, ended, now).await
}

/// Ends every pending share that expired before `before`, whoever's it is
/// (the sweep's safety net).
pub async fn expired_overdue(
    app: &App,
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    let ended = lifecycle::expire_overdue(db, before, now).await?;
    tell_expired(app, db, ended, now).await
}

async fn tell_expired(
    app: &App,
    db: &impl ConnectionTrait,
    ended: Vec<Ended>,
    now: DateTime<Utc>,
) -> Result<Told, DbErr> {
    let mut told = Told::default();
    for Ended { share, step } in ended {
        notify_sender(app, db, &share, EventKind::ShareExpired, step.id, now).await?;
        told.step(&share, &step);
    }
    Ok(told)
}

/// The sender withdraws a pending share; both hear of it live.
///
/// # Errors
/// As [`shares::cancel`]: `NotFound`, `Forbidden` (the recipient),
/// `Conflict` (no longer pending).
pub async fn cancel(app: &App, me: Uuid, id: Uuid) -> Result<share::Model> {
    let txn = crate::db::begin(&app.db).await?;
    let Ended { share, step } = shares::cancel(&txn, me, id, app.clock.now()).await?;
    txn.commit().await?;
    let mut told = Told::default();
    told.step(&share, &step);
    told.publish(app).await;
    Ok(share)
}
