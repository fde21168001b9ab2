//! Per Spotify app (client id) state that every replica must see at once:
//! the pause Spotify ordered with a 429.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SpotifyClients::Table)
                    .if_not_exists()
                    .col(string_len(SpotifyClients::ClientId, 255).primary_key())
                    .col(timestamp_with_time_zone_null(SpotifyClients::PausedSince))
                    .col(timestamp_with_time_zone_null(SpotifyClients::PausedUntil))
                    .col(string_len_null(SpotifyClients::PauseReason, 20))
                    .col(timestamp_with_time_zone(SpotifyClients::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SpotifyClients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SpotifyClients {
    Table,
    ClientId,
    PausedSince,
    PausedUntil,
    PauseReason,
    UpdatedAt,
}
