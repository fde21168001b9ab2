//! The `play_events` table: a detected play of a shared song (the listen
//! receipt), at most one per share. Door: `api::shares`.
use sea_orm::entity::prelude::*;

/// A detected play of a shared track: the listen receipt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "play_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique: one receipt per share.
    #[sea_orm(unique)]
    pub share_id: Uuid,
    /// When Spotify says the recipient played it.
    pub played_at: DateTimeUtc,
    /// When Send Songs noticed.
    pub detected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::shares::Entity",
        from = "Column::ShareId",
        to = "super::shares::Column::Id"
    )]
    Share,
}

impl Related<super::shares::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Share.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
