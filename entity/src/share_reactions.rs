//! The `share_reactions` table: each person's reaction to a share (one
//! emoji, replaced by the next, taken back with none). Door: `api::shares`.
use sea_orm::entity::prelude::*;

/// One person's reaction to one share, as it stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_reactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub share_id: Uuid,
    /// Who reacted: the share's sender or its recipient.
    pub user_id: Uuid,
    /// One fully qualified emoji; `None` once taken back.
    pub emoji: Option<String>,
    /// When the reaction (or taking it back) happened: the app's clock, or
    /// Meta's event time for a reaction in Messenger. A change older than
    /// this is too late and changes nothing.
    pub at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
