//! The `bot_replies` table: the bot's answers, sent in order per sender.
//! Door: `api::notify::replies`.
use sea_orm::entity::prelude::*;

pub use crate::deliveries::Status;

/// An answer of the bot, sent by the job queue with the notification rules.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_replies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub psid: String,
    pub text: String,
    /// JSON array of `{title, payload}` quick replies.
    pub quick_replies: String,
    /// `Pending`, `Sending` (a try began and its answer is not recorded
    /// yet), `Sent` or `Failed`: a reply is never skipped.
    pub status: Status,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    /// The share it is about, when it is about one: once sent, its
    /// `message_id` is remembered with the share (`share_messages`).
    pub share_id: Option<Uuid>,
    /// When the latest try began (the mark written before the Send API is
    /// asked).
    pub tried_at: Option<DateTimeUtc>,
    /// Tries cut short by a stop between their mark and the answer: each
    /// may have reached the person, so the reply may show twice.
    pub interruptions: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
