//! The Messenger bot: the durable inbox of webhook events, replies waiting
//! to be sent, questions awaiting an answer, and wrong link codes.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessengerInbox::Table)
                    .if_not_exists()
                    .col(pk_uuid(MessengerInbox::Id))
                    // Meta's message id (or one made from a postback): a redelivery is ignored.
                    .col(string_len_uniq(MessengerInbox::Mid, 255))
                    .col(string_len(MessengerInbox::Psid, 64))
                    // Meta's event time, ms: events of one sender are handled in this order.
                    .col(big_integer(MessengerInbox::SentAtMs))
                    // message, quick_reply or postback.
                    .col(string_len(MessengerInbox::Kind, 16))
                    .col(text_null(MessengerInbox::Text))
                    .col(text_null(MessengerInbox::Payload))
                    .col(timestamp_with_time_zone(MessengerInbox::ReceivedAt))
                    .col(timestamp_with_time_zone_null(MessengerInbox::HandledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messenger_inbox_sender")
                    .table(MessengerInbox::Table)
                    .col(MessengerInbox::Psid)
                    .col(MessengerInbox::HandledAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotReplies::Table)
                    .if_not_exists()
                    .col(pk_uuid(BotReplies::Id))
                    .col(string_len(BotReplies::Psid, 64))
                    .col(text(BotReplies::Text))
                    // JSON array of {title, payload}.
                    .col(text(BotReplies::QuickReplies))
                    // PENDING, SENT or FAILED.
                    .col(string_len(BotReplies::Status, 12))
                    .col(integer(BotReplies::Attempts).default(0))
                    .col(text_null(BotReplies::LastError))
                    .col(string_null(BotReplies::ProviderMessageId))
                    .col(timestamp_with_time_zone(BotReplies::CreatedAt))
                    .col(timestamp_with_time_zone_null(BotReplies::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotQuestions::Table)
                    .if_not_exists()
                    // One open question per sender: "to whom?" after a bare link.
                    .col(string_len(BotQuestions::Psid, 64).primary_key())
                    .col(string_len(BotQuestions::TrackId, 22))
                    .col(timestamp_with_time_zone(BotQuestions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
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
            .create_index(
                Index::create()
                    .name("idx_link_code_failures_psid")
                    .table(LinkCodeFailures::Table)
                    .col(LinkCodeFailures::Psid)
                    .col(LinkCodeFailures::FailedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LinkCodeFailures::Table.into_iden(),
            BotQuestions::Table.into_iden(),
            BotReplies::Table.into_iden(),
            MessengerInbox::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum MessengerInbox {
    Table,
    Id,
    Mid,
    Psid,
    SentAtMs,
    Kind,
    Text,
    Payload,
    ReceivedAt,
    HandledAt,
}

#[derive(DeriveIden)]
enum BotReplies {
    Table,
    Id,
    Psid,
    Text,
    QuickReplies,
    Status,
    Attempts,
    LastError,
    ProviderMessageId,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum BotQuestions {
    Table,
    Psid,
    TrackId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LinkCodeFailures {
    Table,
    Id,
    Psid,
    FailedAt,
}
