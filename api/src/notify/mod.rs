//! The outbox: everything Send Songs sends to people. Notifications — who
//! hears about what, on which channels — with the delivery log of what
//! became of each ([`log`], the `deliveries` table), and the bot's replies
//! ([`replies`], the `bot_replies` table), under one policy ([`outbox`]).
//! The providers' clients: FCM ([`fcm`]); the Send API is Messenger's
//! (`messenger::send_api`), owned here. Stale push tokens are pruned
//! ([`prune`]).
//!
//! [`Notifier::fan_out`] runs inside the transaction that records the
//! event: it writes one delivery row per channel and target (each
//! registered device, the linked Messenger conversation), unique per
//! (event, channel, target), and a `send_delivery` job for each. A crash
//! between commit and send loses nothing; the same event twice writes
//! nothing new. A step of a share (opened, listening, played, expired)
//! reaches its sender only when they chose that step
//! (`users.notify_steps`), on both channels alike; so do reactions and
//! replies (on by default), which reach the share's other person, whoever
//! of the two that is.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, Set, sea_query::OnConflict};
use uuid::Uuid;

use crate::{
    accounts::users, clock::Clock, devices, jobs::Job as _, messenger::links, messenger::send_api::SendApi,
    shares::tracked::TrackedLinks,
};
use entity::{
    deliveries::{self, Channel, EventKind, Status},
    share_activities::Kind as Step,
};

pub mod fcm;
pub mod log;
pub mod outbox;
pub mod prune;
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

/// The outbox service: the providers' clients, and what its jobs need.
/// Its jobs ([`send::SendDelivery`], [`replies::SendBotReply`]) run with it.
pub struct Notifier {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// FCM HTTP v1, when a service account is configured (or in sandbox mode).
    fcm: Option<fcm::FcmClient>,
    /// The Send API, when a Page token is configured (or in sandbox mode).
    messenger: Option<SendApi>,
    /// Where a relink notice sends people: `{public URL}/auth/spotify/start`.
    reconnect_url: String,
    /// The links to shared tracks that recipients get (they record
    /// `OPENED` on the way to Spotify).
    tracked_links: Arc<TrackedLinks>,
}

impl Notifier {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        fcm: Option<fcm::FcmClient>,
        messenger: Option<SendApi>,
        public_url: &str,
        tracked_links: Arc<TrackedLinks>,
    ) -> Self {
        Self {
            db,
            clock,
            fcm,
            messenger,
            reconnect_url: format!("{public_url}/auth/spotify/start"),
            tracked_links,
        }
    }

    /// Whether push and Messenger are set up on this server.
    pub fn channels(&self) -> (bool, bool) {
        (self.fcm.is_some(), self.messenger.is_some())
    }

    /// Writes the deliveries (and their jobs) for `notice`; answers how
    /// many were new. Call it inside the transaction that records the
    /// event. A channel this server has not set up is skipped with that
    /// reason.
    pub async fn fan_out(
        &self,
        db: &impl ConnectionTrait,
        notice: Notice,
        now: DateTime<Utc>,
    ) -> Result<usize, sea_orm::DbErr> {
        let (push_ready, messenger_ready) = self.channels();
        fan_out(db, notice, push_ready, messenger_ready, now).await
    }
}

/// The step of a share a notice is about, if it is one a sender chooses.
fn step_of(kind: EventKind) -> Option<Step> {
    match kind {
        EventKind::ShareOpened => Some(Step::Opened),
        EventKind::ShareListening => Some(Step::Listening),
        EventKind::SharePlayed => Some(Step::Played),
        EventKind::ShareExpired => Some(Step::Expired),
        EventKind::ShareReacted => Some(Step::Reacted),
        EventKind::ShareReplied => Some(Step::Replied),
        EventKind::ShareReceived | EventKind::RelinkRequired | EventKind::ConsentExpiring => None,
    }
}

async fn fan_out(
    db: &impl ConnectionTrait,
    notice: Notice,
    push_ready: bool,
    messenger_ready: bool,
    now: DateTime<Utc>,
) -> Result<usize, sea_orm::DbErr> {
    let Some(user) = users::find(db, notice.user_id).await? else {
        return Ok(0);
    };
    if let Some(step) = step_of(notice.kind)
        && !user.notified_steps().contains(&step)
    {
        return Ok(0); // they did not ask to hear about this step
    }
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
            tried_at: Set(None),
            interruptions: Set(0),
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
