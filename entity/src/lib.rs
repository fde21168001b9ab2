//! SeaORM entities: one module per table, nothing else. No HTTP or GraphQL
//! types live here; domain logic lives in `api`.
pub mod bot_questions;
pub mod bot_replies;
pub mod deliveries;
pub mod devices;
pub mod friendships;
pub mod jobs;
pub mod link_code_failures;
pub mod link_codes;
pub mod messenger_inbox;
pub mod messenger_links;
pub mod oauth_states;
pub mod play_events;
pub mod refresh_tokens;
pub mod sessions;
pub mod shares;
pub mod spotify_links;
pub mod tracks;
pub mod users;
