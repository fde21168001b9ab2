//! The `messenger_links` table: which account a Messenger sender is, and
//! whether the page may write to them. Door: `api::messenger::links`.
use sea_orm::entity::prelude::*;

/// The account a Messenger sender belongs to.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messenger_links")]
pub struct Model {
    /// Page-scoped sender id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub psid: String,
    #[sea_orm(unique)]
    pub user_id: Uuid,
    pub linked_at: DateTimeUtc,
    /// The page may write to them for 24 hours after this.
    pub last_message_at: Option<DateTimeUtc>,
    /// Set when the Send API said the person cannot be reached.
    pub unreachable_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
