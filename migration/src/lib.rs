//! Database migrations, shared by SQLite and PostgreSQL.
//!
//! Each file is one step named `mYYYYMMDD_NNNNNN_action`; steps are only ever
//! appended, never edited once released.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_sessions;
mod m20261123_000003_create_friendships;
mod m20261123_000004_create_devices;
mod m20261123_000005_create_spotify;
mod m20261123_000006_create_shares_and_jobs;
mod m20261123_000007_create_deliveries;
mod m20261123_000008_create_messenger_bot;
mod m20261130_000010_extend_messenger_inbox;
mod m20261130_000020_create_spotify_clients;
mod m20261130_000021_spotify_links_account_id;
mod m20261130_000022_index_devices_registered;
mod m20261130_000030_create_persisted_queries;
mod m20261130_000040_create_throttles;
mod m20261130_000041_create_sandbox_secrets;
mod m20261130_000042_deliveries_sending_mark;
mod m20261130_000043_bot_replies_sending_mark;
mod m20261130_000050_add_share_steps;
mod m20261130_000051_add_track_isrc;
mod m20261130_000060_add_spotify_budget;
mod m20261130_000063_add_own_spotify_client;
mod m20261130_000070_add_reactions_and_replies;
mod m20261130_000080_bot_question_choices;
mod m20261130_000090_create_messenger_greetings;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_sessions::Migration),
            Box::new(m20261123_000003_create_friendships::Migration),
            Box::new(m20261123_000004_create_devices::Migration),
            Box::new(m20261123_000005_create_spotify::Migration),
            Box::new(m20261123_000006_create_shares_and_jobs::Migration),
            Box::new(m20261123_000007_create_deliveries::Migration),
            Box::new(m20261123_000008_create_messenger_bot::Migration),
            Box::new(m20261130_000010_extend_messenger_inbox::Migration),
            Box::new(m20261130_000020_create_spotify_clients::Migration),
            Box::new(m20261130_000021_spotify_links_account_id::Migration),
            Box::new(m20261130_000022_index_devices_registered::Migration),
            Box::new(m20261130_000030_create_persisted_queries::Migration),
            Box::new(m20261130_000040_create_throttles::Migration),
            Box::new(m20261130_000041_create_sandbox_secrets::Migration),
            Box::new(m20261130_000042_deliveries_sending_mark::Migration),
            Box::new(m20261130_000043_bot_replies_sending_mark::Migration),
            Box::new(m20261130_000050_add_share_steps::Migration),
            Box::new(m20261130_000051_add_track_isrc::Migration),
            Box::new(m20261130_000060_add_spotify_budget::Migration),
            Box::new(m20261130_000063_add_own_spotify_client::Migration),
            Box::new(m20261130_000070_add_reactions_and_replies::Migration),
            Box::new(m20261130_000080_bot_question_choices::Migration),
            Box::new(m20261130_000090_create_messenger_greetings::Migration),
        ]
    }
}
