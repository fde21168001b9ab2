//! The delivery log: one row per notification per channel per target.
use sea_orm_migration::{prelude::*, schema::*};

use super::m20261123_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .if_not_exists()
                    .col(pk_uuid(Deliveries::Id))
                    // Whom it is for.
                    .col(uuid(Deliveries::UserId))
                    // What happened: share_played, share_received, relink_required…
                    .col(string_len(Deliveries::EventKind, 32))
                    .col(uuid(Deliveries::EventId))
                    .col(uuid_null(Deliveries::ShareId))
                    // MESSENGER or PUSH.
                    .col(string_len(Deliveries::Channel, 16))
                    // A device id or a Messenger sender id.
                    .col(string_len(Deliveries::Target, 64))
                    // PENDING, SENT, FAILED or SKIPPED.
                    .col(string_len(Deliveries::Status, 12))
                    .col(integer(Deliveries::Attempts).default(0))
                    .col(text_null(Deliveries::LastError))
                    .col(string_null(Deliveries::ProviderMessageId))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(Deliveries::SentAt))
                    .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Deliveries::Table, Deliveries::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_once")
                    .table(Deliveries::Table)
                    .col(Deliveries::EventKind)
                    .col(Deliveries::EventId)
                    .col(Deliveries::Channel)
                    .col(Deliveries::Target)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_user")
                    .table(Deliveries::Table)
                    .col(Deliveries::UserId)
                    .col(Deliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_share")
                    .table(Deliveries::Table)
                    .col(Deliveries::ShareId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Deliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    UserId,
    EventKind,
    EventId,
    ShareId,
    Channel,
    Target,
    Status,
    Attempts,
    LastError,
    ProviderMessageId,
    CreatedAt,
    SentAt,
    UpdatedAt,
}
