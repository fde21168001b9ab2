//! The `link_code_failures` table: wrong link codes, per Messenger sender,
//! to stop guessing. Door: `api::accounts::link_codes`.
use sea_orm::entity::prelude::*;

/// A wrong link code sent to the bot; too many in an hour are refused.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link_code_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub psid: String,
    pub failed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
