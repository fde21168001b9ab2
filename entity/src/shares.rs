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
    /// `PENDING`, `PLAYED`, `EXPIRED` or `CANCELLED`.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub played_at: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
    /// When the share is next due a check; `None` while paused or ended.
    pub next_check_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
