//! The bot reply's sending mark, as a delivery's: when its latest try
//! began (written, and committed, before the Send API is asked), and how
//! many tries were cut short by a stop between that mark and the answer.
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
                    .table(BotReplies::Table)
                    .add_column(timestamp_with_time_zone_null(BotReplies::TriedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BotReplies::Table)
                    .add_column(integer(BotReplies::Interruptions).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [BotReplies::Interruptions, BotReplies::TriedAt] {
            manager
                .alter_table(Table::alter().table(BotReplies::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum BotReplies {
    Table,
    TriedAt,
    Interruptions,
}
