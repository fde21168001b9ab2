//! Throttles in the database: one row per key (a log-in email or address,
//! a Messenger sender typing link codes, a person looking up tracks),
//! counted in one statement, so a burst of requests on any number of
//! replicas is counted exactly. The wrong link codes table it replaces is
//! dropped (rows in it only slowed down guessing for an hour).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Throttles::Table)
                    .if_not_exists()
                    // `login-email:sam@example.com`, `link-code:<psid>`, …
                    .col(text(Throttles::Key).primary_key())
                    // When the current window opened (its first attempt).
                    .col(timestamp_with_time_zone(Throttles::WindowStartedAt))
                    // Attempts counted in the current window.
                    .col(integer(Throttles::Attempts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_throttles_window")
                    .table(Throttles::Table)
                    .col(Throttles::WindowStartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(LinkCodeFailures::Table).if_exists().to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LinkCodeFailures::Table)
                    .if_not_exists()
                    .col(pk_uuid(LinkCodeFailures::Id))
                    .col(string_len(LinkCodeFailures::Psid, 64))
                    .col(timestamp_with_time_zone(LinkCodeFailures::FailedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Throttles::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Throttles {
    Table,
    Key,
    WindowStartedAt,
    Attempts,
}

#[derive(DeriveIden)]
enum LinkCodeFailures {
    Table,
    Id,
    Psid,
    FailedAt,
}
