//! The `shares` table: a track sent to a friend, and where it stands.
//! Door: `api::shares`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shares")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sender_id: Uuid,
    pub recipient_id: Uuid,
    /// Spotify track id (metadata in `tracks`).
    pub track_id: String,
    pub note: Option<String>,
    pub status: Status,
    pub created_at: DateTimeUtc,
    /// When Spotify says the recipient played it (the play's start).
    pub played_at: Option<DateTimeUtc>,
    /// When the recipient first opened it (the tracked link, or the app).
    pub opened_at: Option<DateTimeUtc>,
    /// When the recipient started playing it, as currently-playing showed.
    pub listening_at: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
    /// When the share is next due a check; `None` while paused or ended.
    pub next_check_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// Where a share stands. Every share ends `Played`, `Expired` or
/// `Cancelled`. Stored as the upper-case name (`varchar(12)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
pub enum Status {
    /// Waiting for the recipient to play it.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The recipient played it after it was shared.
    #[sea_orm(string_value = "PLAYED")]
    Played,
    /// Not played before `expires_at`.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// Withdrawn by its sender while pending.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
