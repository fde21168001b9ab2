//! Users. Email and password are optional: accounts created from Spotify or
//! Messenger have neither until the person adds them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    // Stored lower-case, so the unique index is case-insensitive.
                    .col(string_len_uniq(Users::Handle, 30))
                    .col(string_len(Users::DisplayName, 64))
                    .col(string_len_null(Users::Email, 254))
                    // Lower-cased email: the uniqueness key.
                    .col(string_len_null(Users::EmailKey, 254).unique_key())
                    .col(string_null(Users::PasswordHash))
                    .col(boolean(Users::NotifyPush).default(true))
                    .col(boolean(Users::NotifyMessenger).default(true))
                    .col(boolean(Users::NowPlayingPublic).default(false))
                    .col(string_len(Users::Timezone, 64).default("UTC"))
                    .col(small_integer_null(Users::QuietHoursStart))
                    .col(small_integer_null(Users::QuietHoursEnd))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Handle,
    DisplayName,
    Email,
    EmailKey,
    PasswordHash,
    NotifyPush,
    NotifyMessenger,
    NowPlayingPublic,
    Timezone,
    QuietHoursStart,
    QuietHoursEnd,
    CreatedAt,
    UpdatedAt,
}
