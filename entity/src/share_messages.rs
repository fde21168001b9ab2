//! The `share_messages` table: the page's Messenger messages that concern
//! a share, by the `message_id` the Send API gave each, so that a reaction
//! or a reply to one of them in Messenger finds its share. Door:
//! `api::messenger::sent`.
use sea_orm::entity::prelude::*;

/// One message the page sent that concerns one share.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_messages")]
pub struct Model {
    /// The Send API's `message_id` (Meta's `mid`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub mid: String,
    pub share_id: Uuid,
    /// To whom it went: only they can react to it.
    pub psid: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
