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
    /// `message`, `quick_reply` or `postback`.
    pub kind: String,
    pub text: Option<String>,
    pub payload: Option<String>,
    pub received_at: DateTimeUtc,
    pub handled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
