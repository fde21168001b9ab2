//! Friendships: one row per pair of users, whoever asked first.
//!
//! The pair is stored in canonical order (`user_low` < `user_high`) so the
//! unique index makes "one row per pair" true even when both ask at once.
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
                    .table(Friendships::Table)
                    .if_not_exists()
                    .col(pk_uuid(Friendships::Id))
                    .col(uuid(Friendships::UserLow))
                    .col(uuid(Friendships::UserHigh))
                    .col(uuid(Friendships::RequesterId))
                    .col(boolean(Friendships::Accepted))
                    .col(timestamp_with_time_zone(Friendships::CreatedAt))
                    .col(timestamp_with_time_zone(Friendships::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Friendships::Table, Friendships::UserLow)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Friendships::Table, Friendships::UserHigh)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_friendships_pair")
                    .table(Friendships::Table)
                    .col(Friendships::UserLow)
                    .col(Friendships::UserHigh)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_friendships_high")
                    .table(Friendships::Table)
                    .col(Friendships::UserHigh)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Friendships::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Friendships {
    Table,
    Id,
    UserLow,
    UserHigh,
    RequesterId,
    Accepted,
    CreatedAt,
    UpdatedAt,
}
