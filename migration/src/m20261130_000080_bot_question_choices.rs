//! The friends a "to whom?" question offered, in the order it listed them,
//! so a typed answer (a number, a handle, a display name) is read against
//! the list the person saw. Questions asked before hold an empty list: a
//! quick-reply tap still answers them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BotQuestions::Table)
                    .add_column(text(BotQuestions::Choices).default("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BotQuestions::Table)
                    .drop_column(BotQuestions::Choices)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum BotQuestions {
    Table,
    Choices,
}
