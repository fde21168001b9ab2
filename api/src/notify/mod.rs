//! Notifications: who hears about what, on which channels, and the
//! delivery log of what became of each.
//!
//! [`fan_out`] runs inside the transaction that records the event: it
//! writes one delivery row per channel and target (each registered device,
//! the linked Messenger conversation), unique per (event, channel, target),
//! and a `send_delivery` job for each. A crash between commit and send
//! loses nothing; the same event twice writes nothing new.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum as _, ConnectionTrait, EntityTrait as _, Set, sea_query::OnConflict};
use uuid::Uuid;

use crate::{devices, jobs::Job as _, messenger::links};
use entity::{
    deliveries::{self, Channel, EventKind, Status},
    users,
};

pub mod fcm;
pub mod log;
pub mod outbox;
pub mod replies;
pub mod send;
pub mod texts;

/// What happened, for whom.
#[derive(Debug, Clone, Copy)]
pub struct Notice {
    pub user_id: Uuid,
    pub kind: EventKind,
    pub event_id: Uuid,
    pub share_id: Option<Uuid>,
}

/// Writes the deliveries (and their jobs) for `notice`. Call it inside the
/// transaction that records the event.
pub async fn fan_out(
    db: &impl ConnectionTrait,
    notice: Notice,
    push_ready: bool,
    messenger_ready: bool,
    now: DateTime<Utc>,
) -> Result<usize, sea_orm::DbErr> {
    let Some(user) = users::Entity::find_by_id(notice.user_id).one(db).await? else {
        return Ok(0);
    };
    let mut planned: Vec<(Channel, String, Option<&'static str>)> = Vec::new();
    for device in devices::of_user(db, user.id).await? {
        let skip = if !user.notify_push {
            Some("turned off")
        } else if !push_ready {
            Some("push is not set up on this server")
        } else {
            None
        };
        planned.push((Channel::Push, device.id.to_string(), skip));
    }
    if let Some(link) = links::of_user(db, user.id).await? {
        let skip = if !user.notify_messenger {
            Some("turned off")
        } else if !messenger_ready {
            Some("Messenger is not set up on this server")
        } else {
            None
        };
        planned.push((Channel::Messenger, link.psid, skip));
    }

    let mut written = 0;
    for (channel, target, skip) in planned {
        let id = Uuid::now_v7();
        let row = deliveries::ActiveModel {
            id: Set(id),
            user_id: Set(user.id),
            event_kind: Set(notice.kind),
            event_id: Set(notice.event_id),
            share_id: Set(notice.share_id),
            channel: Set(channel),
            target: Set(target),
            status: Set(if skip.is_some() {
                Status::Skipped
            } else {
                Status::Pending
            }),
            attempts: Set(0),
            last_error: Set(skip.map(str::to_owned)),
            provider_message_id: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
            updated_at: Set(now),
        };
        let inserted = deliveries::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    deliveries::Column::EventKind,
                    deliveries::Column::EventId,
                    deliveries::Column::Channel,
                    deliveries::Column::Target,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        if inserted == 0 {
            continue; // this event already reached this target
        }
        written += 1;
        if skip.is_some() {
            metrics::counter!("deliveries_total", "channel" => channel.to_value(), "outcome" => "skipped").increment(1);
        } else {
            send::SendDelivery { delivery_id: id }.enqueue(db, now).await?;
        }
    }
    Ok(written)
}
