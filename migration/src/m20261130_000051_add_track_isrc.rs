//! The ISRC of each track in the catalogue (Spotify's `external_ids.isrc`):
//! the same recording under another track id counts as a play of it.
//! Rows stored before are marked unknown and read again from Spotify the
//! first time a check needs them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tracks::Table)
                    .add_column(string_len_null(Tracks::Isrc, 32))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tracks::Table)
                    // False for rows stored before: their ISRC was not kept.
                    .add_column(boolean(Tracks::IsrcKnown).default(false))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tracks::IsrcKnown, Tracks::Isrc] {
            manager
                .alter_table(Table::alter().table(Tracks::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tracks {
    Table,
    Isrc,
    IsrcKnown,
}
