//! The delivery log over GraphQL: what became of my notifications.
use async_graphql::{
    Context, Enum, ID, Object, Result,
    connection::{Connection, Edge},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::context::{app, viewer};
use crate::{
    error::Error,
    notify::log,
    paging::{Page, encode_cursor},
};
use entity::deliveries::{self, Channel as StoredChannel, Status as Stored};

pub struct Delivery(pub deliveries::Model);

/// How a notification reaches a person.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A message from the Send Songs page in their Messenger conversation.
    Messenger,
    /// A push notification to their registered devices (FCM).
    Push,
}

/// Where a notification stands.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting to be sent (or to be retried).
    Pending,
    /// Handed to the provider, its answer not yet recorded. If the server
    /// stops meanwhile, it is sent again after the restart, as the same
    /// notification (a device shows it once); `interruptions` counts that.
    Sending,
    /// Accepted by the provider.
    Sent,
    /// Given up: `lastError` says why.
    Failed,
    /// Not sent on purpose: `lastError` says why (turned off, outside the window…).
    Skipped,
}

/// One notification to me on one channel, and what became of it.
#[Object]
impl Delivery {
    /// Unique among deliveries.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Where it went.
    async fn channel(&self) -> Channel {
        match self.0.channel {
            StoredChannel::Messenger => Channel::Messenger,
            StoredChannel::Push => Channel::Push,
        }
    }

    /// Where it stands.
    async fn status(&self) -> DeliveryStatus {
        match self.0.status {
            Stored::Pending => DeliveryStatus::Pending,
            Stored::Sending => DeliveryStatus::Sending,
            Stored::Sent => DeliveryStatus::Sent,
            Stored::Failed => DeliveryStatus::Failed,
            Stored::Skipped => DeliveryStatus::Skipped,
        }
    }

    /// What it was about: `share_received` (to a recipient), `share_opened`,
    /// `share_listening`, `share_played` or `share_expired` (to a sender, for
    /// the steps they chose in `notifySteps`), `share_reacted` or
    /// `share_replied` (to the other person of a share, as their
    /// `notifySteps` allow), `relink_required` or `consent_expiring`.
    async fn kind(&self) -> String {
        self.0.event_kind.to_string()
    }

    /// How many times sending it was tried: tries that reached the provider,
    /// or may have (an interrupted one counts).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// Tries cut short by a stop of the server between asking the provider
    /// and recording its answer. Each was sent again after the restart with
    /// the same identity (push: Android `tag`, APNs `apns-collapse-id`, Web
    /// Push `Topic`), so a device that got both shows it once.
    async fn interruptions(&self) -> i32 {
        self.0.interruptions
    }

    /// When the latest try began (marked before the provider was asked).
    async fn tried_at(&self) -> Option<DateTime<Utc>> {
        self.0.tried_at
    }

    /// Why it failed or was skipped, or the last error before a retry.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When it was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the provider accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
}

/// Deliveries of one share addressed to `user_id`, oldest first.
pub async fn for_share(ctx: &Context<'_>, share_id: Uuid, user_id: Uuid) -> Result<Vec<Delivery>> {
    let rows = log::for_share(&app(ctx).db, share_id, user_id)
        .await
        .map_err(Error::from)?;
    Ok(rows.into_iter().map(Delivery).collect())
}

#[derive(Default)]
pub struct DeliveriesQuery;

/// Reading the delivery log.
#[Object]
impl DeliveriesQuery {
    /// My notifications, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many (1–100).")] first: Option<i32>,
        #[graphql(desc = "The `cursor` (or `endCursor`) to continue after.")] after: Option<String>,
    ) -> Result<Connection<String, Delivery>> {
        let viewer = viewer(ctx)?;
        let page = Page::parse(first, after.as_deref())?;
        let (rows, more) = log::page(&app(ctx).db, viewer.user_id, page)
            .await
            .map_err(Error::from)?;
        let mut connection = Connection::new(page.after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(encode_cursor(row.id), Delivery(row))),
        );
        Ok(connection)
    }
}
