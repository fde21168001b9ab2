//! Push devices: FCM registration tokens, one row per token.
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
                    .table(Devices::Table)
                    .if_not_exists()
                    .col(pk_uuid(Devices::Id))
                    .col(uuid(Devices::UserId))
                    // A token belongs to one app install; it moves between users.
                    .col(text_uniq(Devices::Token))
                    .col(string_len(Devices::Platform, 16))
                    .col(timestamp_with_time_zone(Devices::CreatedAt))
                    .col(timestamp_with_time_zone(Devices::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_devices_user")
                    .table(Devices::Table)
                    .col(Devices::UserId)
                    .col(Devices::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Devices::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Token,
    Platform,
    CreatedAt,
    UpdatedAt,
}
