//! The `devices` table: the push tokens of a person's app installs.
//! Door: `api::devices`.
use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// FCM registration token: a credential for pushing to this install.
    #[sea_orm(unique)]
    pub token: String,
    pub platform: Platform,
    pub created_at: DateTimeUtc,
    /// Last registration; the oldest devices are dropped past the per-user cap.
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// The kind of app install (`varchar(16)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Platform {
    #[sea_orm(string_value = "ANDROID")]
    Android,
    #[sea_orm(string_value = "IOS")]
    Ios,
    #[sea_orm(string_value = "WEB")]
    Web,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
