use sea_orm::entity::prelude::*;

/// One notification on one channel to one target, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The person notified.
    pub user_id: Uuid,
    /// `share_played`, `share_received` or `relink_required`.
    pub event_kind: String,
    /// The play event, share, or link change it is about.
    pub event_id: Uuid,
    pub share_id: Option<Uuid>,
    /// `MESSENGER` or `PUSH`.
    pub channel: String,
    /// A device id (push) or a Messenger sender id.
    pub target: String,
    /// `PENDING`, `SENT`, `FAILED` or `SKIPPED`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The provider's id for the accepted message.
    pub provider_message_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
