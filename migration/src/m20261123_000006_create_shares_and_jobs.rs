//! Shares, their play events, and the durable job queue.
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
                    .table(Shares::Table)
                    .if_not_exists()
                    .col(pk_uuid(Shares::Id))
                    .col(uuid(Shares::SenderId))
                    .col(uuid(Shares::RecipientId))
                    .col(string_len(Shares::TrackId, 22))
                    .col(string_len_null(Shares::Note, 1200))
                    // PENDING, PLAYED, EXPIRED or CANCELLED.
                    .col(string_len(Shares::Status, 12))
                    .col(timestamp_with_time_zone(Shares::CreatedAt))
                    .col(timestamp_with_time_zone_null(Shares::PlayedAt))
                    .col(timestamp_with_time_zone(Shares::ExpiresAt))
                    // When this share is next due a check; null while paused or done.
                    .col(timestamp_with_time_zone_null(Shares::NextCheckAt))
                    .col(timestamp_with_time_zone(Shares::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Shares::Table, Shares::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Shares::Table, Shares::RecipientId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_shares_recipient_status", vec![Shares::RecipientId, Shares::Status]),
            ("idx_shares_sender_created", vec![Shares::SenderId, Shares::CreatedAt]),
        ] {
            let mut index = Index::create().name(name).table(Shares::Table).to_owned();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PlayEvents::Table)
                    .if_not_exists()
                    .col(pk_uuid(PlayEvents::Id))
                    // At most one play event per share, however many workers race.
                    .col(uuid_uniq(PlayEvents::ShareId))
                    .col(timestamp_with_time_zone(PlayEvents::PlayedAt))
                    .col(timestamp_with_time_zone(PlayEvents::DetectedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PlayEvents::Table, PlayEvents::ShareId)
                            .to(Shares::Table, Shares::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(pk_uuid(Jobs::Id))
                    .col(string_len(Jobs::Kind, 64))
                    .col(text(Jobs::Payload))
                    // At most one live job per key (one check job per recipient).
                    .col(string_len_null(Jobs::DedupeKey, 128).unique_key())
                    // queued, running or dead.
                    .col(string_len(Jobs::Status, 12))
                    .col(timestamp_with_time_zone(Jobs::RunAt))
                    .col(integer(Jobs::Attempts).default(0))
                    .col(string_len_null(Jobs::LockedBy, 64))
                    .col(timestamp_with_time_zone_null(Jobs::LockedUntil))
                    // Set when an enqueue met the job running: run it again at once.
                    .col(boolean(Jobs::Dirty).default(false))
                    .col(text_null(Jobs::LastError))
                    .col(timestamp_with_time_zone(Jobs::CreatedAt))
                    .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_due")
                    .table(Jobs::Table)
                    .col(Jobs::Status)
                    .col(Jobs::RunAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Jobs::Table.into_iden(),
            PlayEvents::Table.into_iden(),
            Shares::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    SenderId,
    RecipientId,
    TrackId,
    Note,
    Status,
    CreatedAt,
    PlayedAt,
    ExpiresAt,
    NextCheckAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlayEvents {
    Table,
    Id,
    ShareId,
    PlayedAt,
    DetectedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    DedupeKey,
    Status,
    RunAt,
    Attempts,
    LockedBy,
    LockedUntil,
    Dirty,
    LastError,
    CreatedAt,
    UpdatedAt,
}
