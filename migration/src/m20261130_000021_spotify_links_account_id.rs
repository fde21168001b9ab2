//! Spotify links keyed by Spotify's immutable `account_id` (May 2026): the
//! user id moves to its own column for display (`NULL` on links made
//! before, whose key is still the user id until their next refresh), and
//! the consent-expiry warning is remembered.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(SpotifyLinks::Table)
                    .add_column(string_len_null(SpotifyLinks::SpotifyUserId, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SpotifyLinks::Table)
                    .add_column(timestamp_with_time_zone_null(SpotifyLinks::ExpiryWarnedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_spotify_links_consent_expires")
                    .table(SpotifyLinks::Table)
                    .col(SpotifyLinks::ConsentExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_spotify_links_consent_expires")
                    .table(SpotifyLinks::Table)
                    .to_owned(),
            )
            .await?;
        for column in [SpotifyLinks::ExpiryWarnedAt, SpotifyLinks::SpotifyUserId] {
            manager
                .alter_table(Table::alter().table(SpotifyLinks::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SpotifyLinks {
    Table,
    SpotifyUserId,
    ExpiryWarnedAt,
    ConsentExpiresAt,
}
