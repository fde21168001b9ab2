//! Spotify: linking accounts, the token vault, the one HTTP client, the
//! track catalogue, and "now playing".
pub mod catalog;
pub mod client;
pub mod links;
pub mod now_playing;
pub mod oauth;
pub mod vault;

pub use client::SpotifyClient;
