//! The delivery's sending mark: when its latest try began (written, and
//! committed, before the provider is asked), and how many tries were cut
//! short by a stop between that mark and the provider's answer.
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
                    .table(Deliveries::Table)
                    .add_column(timestamp_with_time_zone_null(Deliveries::TriedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(integer(Deliveries::Interruptions).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Deliveries::Interruptions, Deliveries::TriedAt] {
            manager
                .alter_table(Table::alter().table(Deliveries::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    TriedAt,
    Interruptions,
}
