//! The steps of a share's receipt: when it was opened and when its
//! recipient was seen listening (beside `played_at`), the log of every step
//! (`share_activities`), and which steps each sender hears about.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [Shares::OpenedAt, Shares::ListeningAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Shares::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    // Comma-separated step names (`OPENED,PLAYED`) that also
                    // push and message the sender; existing people keep what
                    // they had: the listen receipt only.
                    .add_column(string_len(Users::NotifySteps, 120).default("PLAYED"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShareActivities::Table)
                    .if_not_exists()
                    .col(pk_uuid(ShareActivities::Id))
                    .col(uuid(ShareActivities::ShareId))
                    // OPENED, LISTENING, PLAYED, EXPIRED, CANCELLED, REACTED, REPLIED.
                    .col(string_len(ShareActivities::Kind, 12))
                    .col(timestamp_with_time_zone(ShareActivities::At))
                    .col(timestamp_with_time_zone(ShareActivities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShareActivities::Table, ShareActivities::ShareId)
                            .to(Shares::Table, Shares::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_share_activities_share")
                    .table(ShareActivities::Table)
                    .col(ShareActivities::ShareId)
                    .to_owned(),
            )
            .await?;
        // The ladder's steps happen at most once per share, however many
        // workers and replicas race; reactions and replies may repeat. A
        // partial index, which SQLite and PostgreSQL both write this way.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_share_activities_step ON share_activities (share_id, kind) \
                 WHERE kind IN ('OPENED', 'LISTENING', 'PLAYED', 'EXPIRED', 'CANCELLED')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShareActivities::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::NotifySteps)
                    .to_owned(),
            )
            .await?;
        for column in [Shares::OpenedAt, Shares::ListeningAt] {
            manager
                .alter_table(Table::alter().table(Shares::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    OpenedAt,
    ListeningAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    NotifySteps,
}

#[derive(DeriveIden)]
enum ShareActivities {
    Table,
    Id,
    ShareId,
    Kind,
    At,
    CreatedAt,
}
