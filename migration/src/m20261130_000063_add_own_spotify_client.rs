//! A person's own Spotify app: the client id a link (and the pending
//! authorization that makes it) was granted through; NULL is the host's
//! app (`SPOTIFY_CLIENT_ID`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for table in [Tables::SpotifyLinks, Tables::OauthStates] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len_null(Tables::ClientId, 64))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Tables::SpotifyLinks, Tables::OauthStates] {
            manager
                .alter_table(Table::alter().table(table).drop_column(Tables::ClientId).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tables {
    SpotifyLinks,
    OauthStates,
    ClientId,
}
