//! Spotify links and their sealed tokens, OAuth states, link codes, the
//! track catalogue, and Messenger links (the account a Messenger sender
//! belongs to).
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
                    .table(SpotifyLinks::Table)
                    .if_not_exists()
                    // One Spotify account per person, one person per Spotify account.
                    .col(uuid(SpotifyLinks::UserId).primary_key())
                    .col(string_len_uniq(SpotifyLinks::AccountId, 255))
                    .col(string_null(SpotifyLinks::DisplayName))
                    // AES-256-GCM sealed, base64: never readable in the database.
                    .col(text(SpotifyLinks::AccessToken))
                    .col(text(SpotifyLinks::RefreshToken))
                    .col(timestamp_with_time_zone(SpotifyLinks::AccessExpiresAt))
                    .col(timestamp_with_time_zone(SpotifyLinks::ConsentedAt))
                    .col(timestamp_with_time_zone(SpotifyLinks::ConsentExpiresAt))
                    .col(string_len(SpotifyLinks::Status, 20))
                    .col(timestamp_with_time_zone(SpotifyLinks::CreatedAt))
                    .col(timestamp_with_time_zone(SpotifyLinks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SpotifyLinks::Table, SpotifyLinks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .if_not_exists()
                    .col(pk_uuid(OauthStates::Id))
                    // SHA-256 of the `state` parameter, hex.
                    .col(string_len_uniq(OauthStates::StateHash, 64))
                    .col(text(OauthStates::CodeVerifier))
                    .col(uuid_null(OauthStates::UserId))
                    .col(string_null(OauthStates::MessengerPsid))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthStates::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LinkCodes::Table)
                    .if_not_exists()
                    .col(pk_uuid(LinkCodes::Id))
                    .col(string_len_uniq(LinkCodes::CodeHash, 64))
                    .col(uuid(LinkCodes::UserId))
                    .col(timestamp_with_time_zone(LinkCodes::CreatedAt))
                    .col(timestamp_with_time_zone(LinkCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(LinkCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LinkCodes::Table, LinkCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tracks::Table)
                    .if_not_exists()
                    .col(string_len(Tracks::Id, 22).primary_key())
                    .col(string(Tracks::Name))
                    // JSON array of artist names.
                    .col(text(Tracks::Artists))
                    .col(string_null(Tracks::Album))
                    .col(integer(Tracks::DurationMs))
                    .col(string_null(Tracks::ImageUrl))
                    .col(timestamp_with_time_zone(Tracks::FetchedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessengerLinks::Table)
                    .if_not_exists()
                    // Page-scoped id of the Messenger sender.
                    .col(string_len(MessengerLinks::Psid, 64).primary_key())
                    .col(uuid_uniq(MessengerLinks::UserId))
                    .col(timestamp_with_time_zone(MessengerLinks::LinkedAt))
                    // Start of the 24-hour window in which the page may write to them.
                    .col(timestamp_with_time_zone_null(MessengerLinks::LastMessageAt))
                    .col(timestamp_with_time_zone_null(MessengerLinks::UnreachableAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessengerLinks::Table, MessengerLinks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MessengerLinks::Table.into_iden(),
            Tracks::Table.into_iden(),
            LinkCodes::Table.into_iden(),
            OauthStates::Table.into_iden(),
            SpotifyLinks::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SpotifyLinks {
    Table,
    UserId,
    AccountId,
    DisplayName,
    AccessToken,
    RefreshToken,
    AccessExpiresAt,
    ConsentedAt,
    ConsentExpiresAt,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateHash,
    CodeVerifier,
    UserId,
    MessengerPsid,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum LinkCodes {
    Table,
    Id,
    CodeHash,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Tracks {
    Table,
    Id,
    Name,
    Artists,
    Album,
    DurationMs,
    ImageUrl,
    FetchedAt,
}

#[derive(DeriveIden)]
enum MessengerLinks {
    Table,
    Psid,
    UserId,
    LinkedAt,
    LastMessageAt,
    UnreachableAt,
}
