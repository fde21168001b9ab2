//! The `messenger_greetings` table: the Messenger senders the bot has
//! greeted. Door: `api::messenger::greetings`.
use sea_orm::entity::prelude::*;

/// A sender the bot greeted (once per conversation).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messenger_greetings")]
pub struct Model {
    /// Page-scoped sender id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub psid: String,
    /// When the greeting was queued.
    pub greeted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
