//! The `deliveries` table: one notification on one channel to one target,
//! and what became of it (the delivery log). Door: `api::notify`.
use sea_orm::entity::prelude::*;

/// One notification on one channel to one target, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The person notified.
    pub user_id: Uuid,
    /// What the notice is about.
    pub event_kind: EventKind,
    /// The play event, share, or link change it is about.
    pub event_id: Uuid,
    pub share_id: Option<Uuid>,
    pub channel: Channel,
    /// A device id (push) or a Messenger sender id.
    pub target: String,
    pub status: Status,
    /// Tries that reached the provider (or may have: an interrupted one
    /// counts).
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The provider's id for the accepted message.
    pub provider_message_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// When the latest try began: the `Sending` mark, committed before the
    /// provider is asked.
    pub tried_at: Option<DateTimeUtc>,
    /// Tries cut short between that mark and the provider's answer (the
    /// process stopped): each was sent again, as the same notification.
    pub interruptions: i32,
}

/// What became of a message sent to a person: a delivery, or a bot reply
/// (which is never `Skipped`). Stored as the upper-case name (`varchar(12)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
pub enum Status {
    /// Waiting to be sent, or to be retried.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Handed to the provider, its answer not yet recorded (deliveries
    /// only). Found so by a later try, it may have gone out: it is sent
    /// again as the same notification.
    #[sea_orm(string_value = "SENDING")]
    Sending,
    /// Accepted by the provider.
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// Given up: `last_error` says why.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Not sent on purpose: `last_error` says why.
    #[sea_orm(string_value = "SKIPPED")]
    Skipped,
}

/// How a notice reaches a person (`varchar(16)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Channel {
    /// A message in the person's Messenger conversation with the page.
    #[sea_orm(string_value = "MESSENGER")]
    Messenger,
    /// An FCM push to one of their devices.
    #[sea_orm(string_value = "PUSH")]
    Push,
}

/// What a notice is about (`varchar(32)`, snake case).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EventKind {
    /// To a sender: their share was played (`event_id`: the play event).
    #[sea_orm(string_value = "share_played")]
    SharePlayed,
    /// To a recipient: a friend shared a song (`event_id`: the share).
    #[sea_orm(string_value = "share_received")]
    ShareReceived,
    /// To someone whose Spotify link stopped working.
    #[sea_orm(string_value = "relink_required")]
    RelinkRequired,
    /// To a sender who chose this step: the recipient opened their share
    /// (`event_id`: the step in `share_activities`).
    #[sea_orm(string_value = "share_opened")]
    ShareOpened,
    /// To a sender who chose this step: the recipient is playing it now
    /// (`event_id`: the step).
    #[sea_orm(string_value = "share_listening")]
    ShareListening,
    /// To a sender who chose this step: their share expired unplayed
    /// (`event_id`: the step).
    #[sea_orm(string_value = "share_expired")]
    ShareExpired,
    /// To someone whose Spotify consent runs out soon (six months after
    /// it was given): reconnect before receipts stop (`event_id`: fresh
    /// per warning).
    #[sea_orm(string_value = "consent_expiring")]
    ConsentExpiring,
    /// To the other person of a share: its sender or recipient reacted
    /// with an emoji (`event_id`: the step in `share_activities`).
    #[sea_orm(string_value = "share_reacted")]
    ShareReacted,
    /// To the other person of a share: its sender or recipient replied
    /// (`event_id`: the step, which holds the reply).
    #[sea_orm(string_value = "share_replied")]
    ShareReplied,
}

/// Its stored name (`share_played`, …), which the API shows too.
impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_value())
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
