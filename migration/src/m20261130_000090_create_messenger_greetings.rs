//! Who the bot has greeted: one row per Messenger sender, written in the
//! transaction that queues the greeting, so a person is greeted once, first,
//! however their first events arrive. People the bot already answered are
//! counted as greeted.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessengerGreetings::Table)
                    .if_not_exists()
                    .col(string_len(MessengerGreetings::Psid, 64).primary_key())
                    .col(timestamp_with_time_zone(MessengerGreetings::GreetedAt))
                    .to_owned(),
            )
            .await?;
        // Conversations that started before greetings were recorded had
        // their greeting then.
        let answered = Query::select()
            .column(MessengerInbox::Psid)
            .expr(Func::max(Expr::col(MessengerInbox::ReceivedAt)))
            .from(MessengerInbox::Table)
            .and_where(Expr::col(MessengerInbox::HandledAt).is_not_null())
            .group_by_col(MessengerInbox::Psid)
            .to_owned();
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(MessengerGreetings::Table)
                    .columns([MessengerGreetings::Psid, MessengerGreetings::GreetedAt])
                    .select_from(answered)
                    .map_err(|err| DbErr::Migration(err.to_string()))?
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MessengerGreetings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MessengerGreetings {
    Table,
    Psid,
    GreetedAt,
}

#[derive(DeriveIden)]
enum MessengerInbox {
    Table,
    Psid,
    ReceivedAt,
    HandledAt,
}
