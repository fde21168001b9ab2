//! The `users` table: people and their settings. Door: `api::accounts`.
use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lower-case; unique.
    #[sea_orm(unique)]
    pub handle: String,
    pub display_name: String,
    /// As typed by the person; `None` for accounts created from Spotify or Messenger.
    pub email: Option<String>,
    /// Lower-cased `email`, the uniqueness key.
    #[sea_orm(unique)]
    pub email_key: Option<String>,
    /// Argon2id PHC string. Never printed: `Debug` below leaves it out.
    pub password_hash: Option<String>,
    pub notify_push: bool,
    pub notify_messenger: bool,
    pub now_playing_public: bool,
    /// IANA time zone name, for quiet hours.
    pub timezone: String,
    pub quiet_hours_start: Option<i16>,
    pub quiet_hours_end: Option<i16>,
    /// Which steps of their shares also reach this person by push and
    /// Messenger: comma-separated step names (`OPENED,PLAYED`); see
    /// [`Model::notified_steps`].
    pub notify_steps: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// The steps this person hears about by push and Messenger (unknown
    /// names, which no release writes, are left out).
    pub fn notified_steps(&self) -> Vec<super::share_activities::Kind> {
        use sea_orm::ActiveEnum as _;
        self.notify_steps
            .split(',')
            .filter_map(|name| super::share_activities::Kind::try_from_value(&name.trim().to_owned()).ok())
            .collect()
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
