//! The inbox keeps more of what Messenger sends: the message a reply or a
//! reaction is about (`target_mid`), a Spotify link shared as an attachment
//! (`shared_url`), and the `ref` of an m.me link or a Get Started button
//! (`referral`). New kinds (`reply`, `reaction`, `referral`) fit the
//! existing `kind` column.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            string_len_null(MessengerInbox::TargetMid, 255),
            text_null(MessengerInbox::SharedUrl),
            text_null(MessengerInbox::Referral),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MessengerInbox::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            MessengerInbox::Referral,
            MessengerInbox::SharedUrl,
            MessengerInbox::TargetMid,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MessengerInbox::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum MessengerInbox {
    Table,
    TargetMid,
    SharedUrl,
    Referral,
}
