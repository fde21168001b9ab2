//! Each Spotify app's call budget, shared by every replica: for the daily
//! and the 30-second budget, the moment its bucket will be empty (the
//! "theoretical arrival time" of the generic cell rate algorithm), in
//! milliseconds since the Unix epoch (integers, so that one `UPDATE`
//! computes the same on SQLite and PostgreSQL).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [SpotifyClients::DayFullUntil, SpotifyClients::WindowFullUntil] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SpotifyClients::Table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SpotifyClients::DayFullUntil, SpotifyClients::WindowFullUntil] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SpotifyClients::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SpotifyClients {
    Table,
    DayFullUntil,
    WindowFullUntil,
}
