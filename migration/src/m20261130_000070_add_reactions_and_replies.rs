//! Reactions and replies to shares: each person's current reaction to a
//! share (`share_reactions`), who answered and what on the log of a share's
//! activity (replies are rows of it), the page's Messenger messages that
//! concern a share (`share_messages`, so a reaction or reply to one in
//! Messenger finds its share), the share a bot reply is about, and the new
//! notices, on by default.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShareReactions::Table)
                    .if_not_exists()
                    .col(pk_uuid(ShareReactions::Id))
                    .col(uuid(ShareReactions::ShareId))
                    .col(uuid(ShareReactions::UserId))
                    // Null once taken back: the row keeps when, so an older
                    // reaction arriving late does not come back.
                    .col(string_len_null(ShareReactions::Emoji, 64))
                    .col(timestamp_with_time_zone(ShareReactions::At))
                    .col(timestamp_with_time_zone(ShareReactions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShareReactions::Table, ShareReactions::ShareId)
                            .to(Shares::Table, Shares::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShareReactions::Table, ShareReactions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_share_reactions_person")
                    .table(ShareReactions::Table)
                    .col(ShareReactions::ShareId)
                    .col(ShareReactions::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds one at a time. Who acted
        // (reactions and replies), what (the emoji, the reply's text), and
        // the Messenger event it came from (a redelivery writes nothing).
        for column in [
            uuid_null(ShareActivities::UserId),
            text_null(ShareActivities::Detail),
            string_len_null(ShareActivities::SourceMid, 255),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ShareActivities::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_share_activities_source_mid")
                    .table(ShareActivities::Table)
                    .col(ShareActivities::SourceMid)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShareMessages::Table)
                    .if_not_exists()
                    // The Send API's `message_id`: what a reaction's `mid` or
                    // a reply's `reply_to.mid` names.
                    .col(string_len(ShareMessages::Mid, 255).primary_key())
                    .col(uuid(ShareMessages::ShareId))
                    .col(string_len(ShareMessages::Psid, 64))
                    .col(timestamp_with_time_zone(ShareMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShareMessages::Table, ShareMessages::ShareId)
                            .to(Shares::Table, Shares::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_share_messages_share")
                    .table(ShareMessages::Table)
                    .col(ShareMessages::ShareId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BotReplies::Table)
                    .add_column(uuid_null(BotReplies::ShareId))
                    .to_owned(),
            )
            .await?;
        // Reactions and replies reach people unless they turn them off.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET notify_steps = CASE WHEN notify_steps = '' THEN 'REACTED,REPLIED' \
                 ELSE notify_steps || ',REACTED,REPLIED' END",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET notify_steps = REPLACE(REPLACE(REPLACE(notify_steps, ',REACTED', ''), \
                 ',REPLIED', ''), 'REACTED,REPLIED', '')",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BotReplies::Table)
                    .drop_column(BotReplies::ShareId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ShareMessages::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_share_activities_source_mid")
                    .table(ShareActivities::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ShareActivities::SourceMid,
            ShareActivities::Detail,
            ShareActivities::UserId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ShareActivities::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ShareReactions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ShareReactions {
    Table,
    Id,
    ShareId,
    UserId,
    Emoji,
    At,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ShareActivities {
    Table,
    UserId,
    Detail,
    SourceMid,
}

#[derive(DeriveIden)]
enum ShareMessages {
    Table,
    Mid,
    ShareId,
    Psid,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BotReplies {
    Table,
    ShareId,
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
