//! The `messenger_inbox` table: webhook events stored before the bot
//! handles them. Door: `api::messenger::inbox`.
use sea_orm::entity::prelude::*;

/// A webhook event from a Messenger sender, stored before it is handled.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messenger_inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Meta's message id: a redelivered event is ignored.
    #[sea_orm(unique)]
    pub mid: String,
    pub psid: String,
    /// Meta's event time in ms: one sender's events are handled in this order.
    pub sent_at_ms: i64,
    pub kind: Kind,
    pub text: Option<String>,
    pub payload: Option<String>,
    pub received_at: DateTimeUtc,
    pub handled_at: Option<DateTimeUtc>,
}

/// What the sender did (`varchar(16)`, snake case).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Kind {
    /// Typed a message (`text`).
    #[sea_orm(string_value = "message")]
    Message,
    /// Tapped a quick-reply button (`payload`; `text` is its title).
    #[sea_orm(string_value = "quick_reply")]
    QuickReply,
    /// Tapped a button such as Get Started (`payload`; `text` is its title).
    #[sea_orm(string_value = "postback")]
    Postback,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
