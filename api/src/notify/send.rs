//! The `send_delivery` job: one delivery to one target, with the rules of
//! its channel.
//!
//! Push waits out the person's quiet hours (never dropped). Messenger is
//! sent only while the page may write to the person (the 24-hour window,
//! see `messenger::links`), and otherwise skipped with that reason. Retries
//! and giving up follow the outbox policy ([`outbox`]); every outcome is
//! written to the delivery row ([`log::record`]).
use chrono::{DateTime, TimeDelta, Timelike as _, Utc};
use sea_orm::{
    ActiveEnum as _, ConnectionTrait as _, DbBackend, EntityTrait, FromQueryResult as _, IdenStatic as _,
    Iterable as _, Statement,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Notifier,
    fcm::{self, FcmError},
    log,
    outbox::{self, Attempt},
    texts::{self, Texts},
};
use crate::{
    devices,
    jobs::{Job, JobError, Outcome},
    messenger::{
        links::{self, Reach},
        send_api::{MessagingType, SendApi},
    },
};
use entity::{
    deliveries::{self, Channel, EventKind, Status},
    shares, tracks, users,
};

/// Sends one delivery (the row says to whom, on which channel, about what).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendDelivery {
    pub delivery_id: Uuid,
}

impl Job for SendDelivery {
    const KIND: &'static str = "send_delivery";
    type Context = Notifier;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("delivery:{}", self.delivery_id))
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %self.delivery_id))]
    async fn run(&self, notifier: &Notifier) -> Result<Outcome, JobError> {
        send(notifier, self.delivery_id).await
    }
}

async fn send(notifier: &Notifier, delivery_id: Uuid) -> Result<Outcome, JobError> {
    let Some(loaded) = load(notifier, delivery_id).await? else {
        return Ok(Outcome::Done);
    };
    let delivery = &loaded.delivery;
    // `Sending`: a try was cut short after its mark; it is tried again.
    if !matches!(delivery.status, Status::Pending | Status::Sending) {
        return Ok(Outcome::Done);
    }
    let now = notifier.clock.now();
    let (tried, attempt) = match compose(notifier, &loaded) {
        None => (delivery.clone(), Attempt::Skipped("what it was about no longer exists")),
        Some(texts) => {
            if delivery.channel == Channel::Push
                && let Some(end) = quiet_hours_end(&loaded.user, now)
            {
                return Ok(Outcome::RunAt(end));
            }
            match reach(notifier, delivery, now).await? {
                Err(skipped) => (delivery.clone(), skipped),
                Ok(target) => {
                    // Committed before the provider is asked: a stop before
                    // its answer is recorded leaves the delivery `Sending`,
                    // and the next try sends it again as the same notification.
                    let Some(marked) = log::mark_sending(&notifier.db, delivery, now).await? else {
                        return Ok(Outcome::Done);
                    };
                    let attempt = transmit(notifier, &marked, target, &texts, now).await?;
                    (marked, attempt)
                }
            }
        }
    };
    let settled = outbox::settle(tried.attempts, tried.created_at, now, attempt);
    log::record(&notifier.db, &tried, &settled, notifier.clock.as_ref(), now).await?;
    if tried.channel == Channel::Messenger {
        outbox::remember_share(&notifier.db, &settled, tried.share_id, &tried.target, now).await?;
    }
    settled.into_job_result()?;
    Ok(Outcome::Done)
}

/// Where a delivery goes, once it is known that it can go.
enum Target<'a> {
    /// A device, through FCM.
    Push(&'a fcm::FcmClient, entity::devices::Model),
    /// A Messenger sender (its page-scoped id), through the Send API.
    Messenger(&'a SendApi, String),
}

/// Where `delivery` can go now, or why it is skipped.
async fn reach<'a>(
    notifier: &'a Notifier,
    delivery: &deliveries::Model,
    now: DateTime<Utc>,
) -> Result<Result<Target<'a>, Attempt>, JobError> {
    match delivery.channel {
        Channel::Push => {
            let Some(fcm) = &notifier.fcm else {
                return Ok(Err(Attempt::Skipped("push is not set up on this server")));
            };
            let device_id: Uuid = delivery
                .target
                .parse()
                .map_err(|_| JobError::permanent("bad device target"))?;
            let Some(device) = devices::find(&notifier.db, device_id).await? else {
                return Ok(Err(Attempt::Skipped("the device was removed")));
            };
            if device.user_id != delivery.user_id {
                return Ok(Err(Attempt::Skipped("the device now belongs to another account")));
            }
            Ok(Ok(Target::Push(fcm, device)))
        }
        Channel::Messenger => {
            let Some(messenger) = &notifier.messenger else {
                return Ok(Err(Attempt::Skipped("Messenger is not set up on this server")));
            };
            Ok(
                match links::reach(&notifier.db, &delivery.target, delivery.user_id, now).await? {
                    Reach::Open(psid) => Ok(Target::Messenger(messenger, psid)),
                    Reach::Unlinked => Err(Attempt::Skipped("Messenger was unlinked")),
                    Reach::Unreachable => Err(Attempt::Skipped("the person cannot be reached on Messenger")),
                    Reach::OutsideWindow => Err(Attempt::Skipped(
                        "outside Messenger's 24-hour window: they have not written to the page in the last 24 hours",
                    )),
                },
            )
        }
    }
}

/// Asks the provider to deliver; answers how that try ended.
async fn transmit(
    notifier: &Notifier,
    delivery: &deliveries::Model,
    target: Target<'_>,
    texts: &Texts,
    now: DateTime<Utc>,
) -> Result<Attempt, JobError> {
    match target {
        Target::Push(fcm, device) => {
            // The same for every send of this notification, to every device.
            let identity = fcm::notification_id(&format!("{}:{}", delivery.event_kind.to_value(), delivery.event_id));
            Ok(match fcm.send(&device.token, &texts.push, &identity, now).await {
                Ok(name) => Attempt::Accepted(name),
                Err(FcmError::Unregistered(reason)) => {
                    devices::remove(&notifier.db, device.id).await?;
                    Attempt::Failed(reason)
                }
                Err(FcmError::Rejected(reason) | FcmError::Operator(reason)) => Attempt::Failed(reason),
                Err(FcmError::Retry { reason, after }) => Attempt::Retry { reason, after },
            })
        }
        Target::Messenger(messenger, psid) => Ok(outbox::to_messenger(
            &notifier.db,
            messenger,
            &psid,
            MessagingType::Update,
            &texts.message,
            &[],
            now,
        )
        .await?),
    }
}

/// A delivery with everything its texts need, read in one query.
struct Loaded {
    delivery: deliveries::Model,
    /// The person notified.
    user: users::Model,
    share: Option<shares::Model>,
    track: Option<tracks::Model>,
    /// The share's other person: who sent it (for the recipient's notice),
    /// else its recipient (for the sender's); who reacted or replied.
    other: Option<users::Model>,
    /// When the play event it is about happened (if it is about one).
    played_at: Option<DateTime<Utc>>,
    /// The emoji or the reply it is about (if it is about one).
    answer: Option<String>,
}

/// `alias.column AS alias_column, …` for every column of `E`.
fn columns<E: EntityTrait>(alias: &str) -> String {
    E::Column::iter()
        .map(|column| {
            let name = column.as_str();
            format!("{alias}.\"{name}\" AS \"{alias}_{name}\"")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The delivery, its person, and the share, track, other person and answer
/// it is about: one statement instead of six (per-statement cost is most of a
/// delivery's database time).
async fn load(notifier: &Notifier, delivery_id: Uuid) -> Result<Option<Loaded>, sea_orm::DbErr> {
    let backend = notifier.db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, pe.played_at AS pe_played_at, sa.detail AS sa_detail FROM deliveries d \
         JOIN users u ON u.id = d.user_id \
         LEFT JOIN shares s ON s.id = d.share_id \
         LEFT JOIN tracks t ON t.id = s.track_id \
         LEFT JOIN users o ON o.id = CASE WHEN d.user_id = s.sender_id THEN s.recipient_id ELSE s.sender_id END \
         LEFT JOIN play_events pe ON pe.id = d.event_id \
         LEFT JOIN share_activities sa ON sa.id = d.event_id \
         WHERE d.id = {placeholder}",
        columns::<deliveries::Entity>("d"),
        columns::<users::Entity>("u"),
        columns::<shares::Entity>("s"),
        columns::<tracks::Entity>("t"),
        columns::<users::Entity>("o"),
    );
    let statement = Statement::from_sql_and_values(backend, sql, [delivery_id.into()]);
    let Some(row) = notifier.db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    Ok(Some(Loaded {
        delivery: deliveries::Model::from_query_result(&row, "d_")?,
        user: users::Model::from_query_result(&row, "u_")?,
        share: shares::Model::from_query_result_optional(&row, "s_")?,
        track: tracks::Model::from_query_result_optional(&row, "t_")?,
        other: users::Model::from_query_result_optional(&row, "o_")?,
        played_at: row.try_get("", "pe_played_at")?,
        answer: row.try_get("", "sa_detail")?,
    }))
}

/// The texts for a delivery, from what it is about; `None` if that is gone.
fn compose(notifier: &Notifier, loaded: &Loaded) -> Option<Texts> {
    match (loaded.delivery.event_kind, &loaded.share, &loaded.track, &loaded.other) {
        (EventKind::SharePlayed, Some(share), Some(track), Some(recipient)) => {
            let mut share = share.clone();
            if share.played_at.is_none() {
                share.played_at = loaded.played_at;
            }
            Some(texts::share_played(&share, track, recipient))
        }
        (EventKind::ShareReceived, Some(share), Some(track), Some(sender)) => Some(texts::share_received(
            share,
            track,
            sender,
            notifier.tracked_links.link(share),
        )),
        (EventKind::ShareOpened, Some(share), Some(track), Some(recipient)) => {
            Some(texts::share_opened(share, track, recipient))
        }
        (EventKind::ShareListening, Some(share), Some(track), Some(recipient)) => {
            Some(texts::share_listening(share, track, recipient))
        }
        (EventKind::ShareExpired, Some(share), Some(track), Some(recipient)) => {
            Some(texts::share_expired(share, track, recipient))
        }
        (EventKind::ShareReacted, Some(share), Some(track), Some(by)) => {
            Some(texts::share_reacted(share, track, by, loaded.answer.as_deref()?))
        }
        (EventKind::ShareReplied, Some(share), Some(track), Some(by)) => {
            Some(texts::share_replied(share, track, by, loaded.answer.as_deref()?))
        }
        (EventKind::RelinkRequired, _, _, _) => Some(texts::relink_required(&notifier.reconnect_url)),
        (EventKind::ConsentExpiring, _, _, _) => Some(texts::consent_expiring(&notifier.reconnect_url)),
        (
            EventKind::SharePlayed
            | EventKind::ShareReceived
            | EventKind::ShareOpened
            | EventKind::ShareListening
            | EventKind::ShareExpired
            | EventKind::ShareReacted
            | EventKind::ShareReplied,
            _,
            _,
            _,
        ) => None,
    }
}

/// When the person's quiet hours end, if they are in them now.
pub fn quiet_hours_end(user: &users::Model, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (start, end) = (user.quiet_hours_start?, user.quiet_hours_end?);
    let tz: chrono_tz::Tz = user.timezone.parse().ok()?;
    let local = now.with_timezone(&tz);
    let hour = local.hour() as i16;
    let quiet = if start < end {
        hour >= start && hour < end
    } else {
        hour >= start || hour < end
    };
    if !quiet {
        return None;
    }
    // The next local time at `end`:00.
    let mut candidate = local
        .with_hour(end as u32)?
        .with_minute(0)?
        .with_second(0)?
        .with_nanosecond(0)?;
    if candidate <= local {
        candidate += TimeDelta::days(1);
    }
    Some(candidate.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(start: i16, end: i16, tz: &str) -> users::Model {
        let now = Utc::now();
        users::Model {
            id: Uuid::nil(),
            handle: "sam".into(),
            display_name: "Sam".into(),
            email: None,
            email_key: None,
            password_hash: None,
            notify_push: true,
            notify_messenger: true,
            now_playing_public: false,
            timezone: tz.into(),
            quiet_hours_start: Some(start),
            quiet_hours_end: Some(end),
            notify_steps: "PLAYED".into(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn quiet_hours_across_midnight_in_the_persons_zone() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // 23:30 in Paris (UTC+1 in November) is inside 22–7; they end at 07:00 Paris.
        let late = at("2026-11-23T22:30:00Z");
        assert_eq!(
            quiet_hours_end(&user(22, 7, "Europe/Paris"), late),
            Some(at("2026-11-24T06:00:00Z"))
        );
        assert_eq!(
            quiet_hours_end(&user(22, 7, "Europe/Paris"), at("2026-11-23T12:00:00Z")),
            None
        );
        assert_eq!(
            quiet_hours_end(&user(13, 15, "UTC"), at("2026-11-23T14:10:00Z")),
            Some(at("2026-11-23T15:00:00Z"))
        );
    }
}
