//! The `send_delivery` job: one delivery to one target, with the rules of
//! its channel.
//!
//! Push waits out the person's quiet hours (never dropped). Messenger is
//! sent only inside the 24-hour window since the person last wrote to the
//! page, and otherwise skipped with that reason. Retries use the queue's
//! backoff (full jitter) or the provider's `Retry-After`, up to
//! [`MAX_ATTEMPTS`] and [`MAX_AGE`]; then the delivery fails with its last
//! error. Every outcome is written to the delivery row.
use chrono::{DateTime, TimeDelta, Timelike as _, Utc};
use sea_orm::{
    ActiveEnum as _, ColumnTrait as _, ConnectionTrait as _, DbBackend, EntityTrait, FromQueryResult as _,
    IdenStatic as _, Iterable as _, QueryFilter as _, Statement, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    fcm::FcmError,
    messenger_send::SendError,
    texts::{self, Texts},
};
use crate::{
    app::App,
    jobs::{Job, JobError, Outcome},
};
use entity::{
    deliveries::{self, Channel, EventKind, Status},
    devices, messenger_links, shares, tracks, users,
};

/// Sends one delivery (the row says to whom, on which channel, about what).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendDelivery {
    pub delivery_id: Uuid,
}

impl Job for SendDelivery {
    const KIND: &'static str = "send_delivery";
    type Context = App;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("delivery:{}", self.delivery_id))
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %self.delivery_id))]
    async fn run(&self, app: &App) -> Result<Outcome, JobError> {
        send(app, self.delivery_id).await
    }
}

pub const MAX_ATTEMPTS: i32 = 6;
pub const MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// Messenger lets a page write to a person this long after their last message.
pub const MESSENGER_WINDOW: TimeDelta = TimeDelta::hours(24);

async fn send(app: &App, delivery_id: Uuid) -> Result<Outcome, JobError> {
    let Some(loaded) = load(app, delivery_id).await? else {
        return Ok(Outcome::Done);
    };
    let delivery = &loaded.delivery;
    if delivery.status != Status::Pending {
        return Ok(Outcome::Done);
    }
    let now = app.clock.now();
    let Some(texts) = compose(app, &loaded) else {
        finish(
            app,
            delivery,
            Status::Skipped,
            Some("what it was about no longer exists"),
            None,
        )
        .await?;
        return Ok(Outcome::Done);
    };
    let user = &loaded.user;
    let result = if delivery.channel == Channel::Push {
        if let Some(end) = quiet_hours_end(user, now) {
            return Ok(Outcome::RunAt(end));
        }
        send_push(app, delivery, &texts, now).await?
    } else {
        send_messenger(app, delivery, &texts, now).await?
    };
    match result {
        Sent::Accepted(id) => finish(app, delivery, Status::Sent, None, Some(id)).await?,
        Sent::Skipped(reason) => finish(app, delivery, Status::Skipped, Some(reason), None).await?,
        Sent::Failed(reason) => finish(app, delivery, Status::Failed, Some(&reason), None).await?,
        Sent::Retry { reason, after } => {
            let attempts = delivery.attempts + 1;
            if attempts >= MAX_ATTEMPTS || now - delivery.created_at >= MAX_AGE {
                finish(app, delivery, Status::Failed, Some(&reason), None).await?;
            } else {
                deliveries::Entity::update_many()
                    .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
                    .col_expr(deliveries::Column::LastError, Expr::value(reason.clone()))
                    .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
                    .filter(deliveries::Column::Id.eq(delivery.id))
                    .exec(&app.db)
                    .await?;
                return Err(JobError {
                    message: reason,
                    retry_at: after.map(|a| now + TimeDelta::from_std(a).unwrap_or(TimeDelta::MAX)),
                    permanent: false,
                });
            }
        }
    }
    Ok(Outcome::Done)
}

enum Sent {
    Accepted(String),
    Skipped(&'static str),
    Failed(String),
    Retry {
        reason: String,
        after: Option<std::time::Duration>,
    },
}

async fn send_push(
    app: &App,
    delivery: &deliveries::Model,
    texts: &Texts,
    now: DateTime<Utc>,
) -> Result<Sent, JobError> {
    let Some(fcm) = &app.fcm else {
        return Ok(Sent::Skipped("push is not set up on this server"));
    };
    let device_id: Uuid = delivery
        .target
        .parse()
        .map_err(|_| JobError::permanent("bad device target"))?;
    let Some(device) = devices::Entity::find_by_id(device_id).one(&app.db).await? else {
        return Ok(Sent::Skipped("the device was removed"));
    };
    if device.user_id != delivery.user_id {
        return Ok(Sent::Skipped("the device now belongs to another account"));
    }
    Ok(match fcm.send(&device.token, &texts.push, now).await {
        Ok(name) => Sent::Accepted(name),
        Err(FcmError::Unregistered) => {
            devices::Entity::delete_by_id(device.id).exec(&app.db).await?;
            Sent::Failed(FcmError::Unregistered.to_string() + ": device removed")
        }
        Err(FcmError::Rejected(reason)) => Sent::Failed(reason),
        Err(FcmError::Retry { reason, after }) => Sent::Retry { reason, after },
    })
}

async fn send_messenger(
    app: &App,
    delivery: &deliveries::Model,
    texts: &Texts,
    now: DateTime<Utc>,
) -> Result<Sent, JobError> {
    let Some(messenger) = &app.messenger else {
        return Ok(Sent::Skipped("Messenger is not set up on this server"));
    };
    let Some(link) = messenger_links::Entity::find_by_id(delivery.target.as_str())
        .one(&app.db)
        .await?
    else {
        return Ok(Sent::Skipped("Messenger was unlinked"));
    };
    if link.user_id != delivery.user_id {
        return Ok(Sent::Skipped("Messenger was unlinked"));
    }
    if link.unreachable_at.is_some() {
        return Ok(Sent::Skipped("the person cannot be reached on Messenger"));
    }
    if link.last_message_at.is_none_or(|last| now - last > MESSENGER_WINDOW) {
        return Ok(Sent::Skipped(
            "outside Messenger's 24-hour window: they have not written to the page in the last 24 hours",
        ));
    }
    Ok(
        match messenger.send_text(&link.psid, "UPDATE", &texts.message, &[]).await {
            Ok(id) => Sent::Accepted(id),
            Err(SendError::Unreachable) => {
                crate::messenger::mark_unreachable(&app.db, &link.psid, now).await?;
                Sent::Failed(SendError::Unreachable.to_string())
            }
            Err(SendError::Retry(reason)) => Sent::Retry { reason, after: None },
            Err(err @ (SendError::BadToken | SendError::Rejected(_))) => Sent::Failed(err.to_string()),
        },
    )
}

/// A delivery with everything its texts need, read in one query.
struct Loaded {
    delivery: deliveries::Model,
    /// The person notified.
    user: users::Model,
    share: Option<shares::Model>,
    track: Option<tracks::Model>,
    /// The share's other person: who played it, or who sent it.
    other: Option<users::Model>,
    /// When the play event it is about happened (if it is about one).
    played_at: Option<DateTime<Utc>>,
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

/// The delivery, its person, and the share, track and other person it is
/// about: one statement instead of five (per-statement cost is most of a
/// delivery's database time).
async fn load(app: &App, delivery_id: Uuid) -> Result<Option<Loaded>, sea_orm::DbErr> {
    let backend = app.db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, pe.played_at AS pe_played_at FROM deliveries d \
         JOIN users u ON u.id = d.user_id \
         LEFT JOIN shares s ON s.id = d.share_id \
         LEFT JOIN tracks t ON t.id = s.track_id \
         LEFT JOIN users o ON o.id = CASE WHEN d.event_kind = 'share_played' THEN s.recipient_id ELSE s.sender_id END \
         LEFT JOIN play_events pe ON pe.id = d.event_id \
         WHERE d.id = {placeholder}",
        columns::<deliveries::Entity>("d"),
        columns::<users::Entity>("u"),
        columns::<shares::Entity>("s"),
        columns::<tracks::Entity>("t"),
        columns::<users::Entity>("o"),
    );
    let statement = Statement::from_sql_and_values(backend, sql, [delivery_id.into()]);
    let Some(row) = app.db.query_one_raw(statement).await? else {
        return Ok(None);
    };
    Ok(Some(Loaded {
        delivery: deliveries::Model::from_query_result(&row, "d_")?,
        user: users::Model::from_query_result(&row, "u_")?,
        share: shares::Model::from_query_result_optional(&row, "s_")?,
        track: tracks::Model::from_query_result_optional(&row, "t_")?,
        other: users::Model::from_query_result_optional(&row, "o_")?,
        played_at: row.try_get("", "pe_played_at")?,
    }))
}

/// The texts for a delivery, from what it is about; `None` if that is gone.
fn compose(app: &App, loaded: &Loaded) -> Option<Texts> {
    match (loaded.delivery.event_kind, &loaded.share, &loaded.track, &loaded.other) {
        (EventKind::SharePlayed, Some(share), Some(track), Some(recipient)) => {
            let mut share = share.clone();
            if share.played_at.is_none() {
                share.played_at = loaded.played_at;
            }
            Some(texts::share_played(&share, track, recipient))
        }
        (EventKind::ShareReceived, Some(share), Some(track), Some(sender)) => {
            Some(texts::share_received(share, track, sender))
        }
        (EventKind::RelinkRequired, _, _, _) => Some(texts::relink_required(&format!(
            "{}/auth/spotify/start",
            app.public_url
        ))),
        (EventKind::SharePlayed | EventKind::ShareReceived, _, _, _) => None,
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

async fn finish(
    app: &App,
    delivery: &deliveries::Model,
    outcome: Status,
    reason: Option<&str>,
    provider_id: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    let now = app.clock.now();
    let sent = outcome == Status::Sent;
    let attempts = delivery.attempts + i32::from(outcome != Status::Skipped);
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(outcome))
        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
        .col_expr(deliveries::Column::LastError, Expr::value(reason.map(str::to_owned)))
        .col_expr(deliveries::Column::ProviderMessageId, Expr::value(provider_id))
        .col_expr(deliveries::Column::SentAt, Expr::value(sent.then_some(now)))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(deliveries::Column::Id.eq(delivery.id))
        .filter(deliveries::Column::Status.eq(Status::Pending))
        .exec(&app.db)
        .await?;
    metrics::counter!("deliveries_total", "channel" => delivery.channel.to_value(), "outcome" => outcome.to_value().to_lowercase())
        .increment(1);
    if sent {
        metrics::histogram!("delivery_latency_seconds", "channel" => delivery.channel.to_value())
            .record((now - delivery.created_at).num_milliseconds().max(0) as f64 / 1000.0);
    }
    Ok(())
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
