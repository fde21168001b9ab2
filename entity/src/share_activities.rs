//! The `share_activities` table: each step of a share, as it happened
//! (opened, listening, played, expired, cancelled; reactions and replies).
//! The steps of the ladder are written once per share, in order. Door:
//! `api::shares`.
use sea_orm::entity::prelude::*;

/// One step of one share.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_activities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub share_id: Uuid,
    pub kind: Kind,
    /// When it happened: `opened_at`, `listening_at` or `played_at` of the
    /// share for those steps, its expiry, the moment it was cancelled.
    pub at: DateTimeUtc,
    /// When Send Songs recorded it.
    pub created_at: DateTimeUtc,
    /// Who reacted or replied (none for the other kinds).
    pub user_id: Option<Uuid>,
    /// The emoji of a reaction (none: taken back), the text of a reply.
    pub detail: Option<String>,
    /// The Messenger event it came from (Meta's `mid`, or the inbox's id
    /// for a reaction): a redelivered event writes nothing.
    pub source_mid: Option<String>,
}

/// What happened to a share. Stored as the upper-case name (`varchar(12)`).
/// The ladder `Opened` → `Listening` → `Played` only goes up; `Expired` and
/// `Cancelled` end a pending share; reactions and replies may repeat.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
pub enum Kind {
    /// The recipient opened the share's link, or their app said so.
    #[sea_orm(string_value = "OPENED")]
    Opened,
    /// Spotify showed the recipient playing the shared track.
    #[sea_orm(string_value = "LISTENING")]
    Listening,
    /// The recipient played at least 30 seconds of it (or all of a shorter track).
    #[sea_orm(string_value = "PLAYED")]
    Played,
    /// Not played before it expired.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// Withdrawn by its sender.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    /// Someone reacted to it, or took their reaction back (`detail` none).
    #[sea_orm(string_value = "REACTED")]
    Reacted,
    /// Someone replied to it (`detail`: the reply). Replies are these rows.
    #[sea_orm(string_value = "REPLIED")]
    Replied,
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
