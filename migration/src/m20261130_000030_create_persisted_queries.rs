//! Automatic persisted queries: GraphQL documents by their SHA-256, shared by
//! every replica, with when each was last used (the least recently used go
//! first past the cap).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersistedQueries::Table)
                    .if_not_exists()
                    // Lower-case hex SHA-256 of the query text.
                    .col(string_len(PersistedQueries::Hash, 64).primary_key())
                    .col(text(PersistedQueries::Query))
                    .col(timestamp_with_time_zone(PersistedQueries::CreatedAt))
                    .col(timestamp_with_time_zone(PersistedQueries::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_persisted_queries_last_used")
                    .table(PersistedQueries::Table)
                    .col(PersistedQueries::LastUsedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PersistedQueries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PersistedQueries {
    Table,
    Hash,
    Query,
    CreatedAt,
    LastUsedAt,
}
