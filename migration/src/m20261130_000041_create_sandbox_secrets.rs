//! The secrets sandbox mode makes up when none is set (the access-token
//! key, the key that seals Spotify tokens, the fake Spotify's token key),
//! kept so that a restarted sandbox server still opens what it stored.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SandboxSecrets::Table)
                    .if_not_exists()
                    // JWT_SECRET, ENCRYPTION_KEY, SANDBOX_SPOTIFY_TOKEN_KEY.
                    .col(string_len(SandboxSecrets::Name, 64).primary_key())
                    .col(text(SandboxSecrets::Value))
                    .col(timestamp_with_time_zone(SandboxSecrets::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SandboxSecrets::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SandboxSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}
