//! Accounts: users, sign-up and log-in, sessions with rotating refresh
//! tokens, personal settings, link codes, and handles for accounts made
//! from Spotify or Messenger. Owns the `users`, `sessions`,
//! `refresh_tokens` and `link_codes` tables (its throttles are counted in
//! [`crate::throttle`]).
//!
//! [`Accounts`] holds what signing in needs from the process (the token
//! key, the session cache, the events that tell every replica a session
//! ended); reading and creating user
//! rows ([`users`], [`handles`], [`link_codes`]) are functions over a
//! connection, so they join a caller's transaction.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{cache::Caches, clock::Clock, events::EventBus};

pub mod deletion;
pub mod handles;
pub mod link_codes;
pub mod passwords;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod validate;

pub use sessions::{Authenticated, Viewer};

/// The accounts service: sessions ([`sessions`]) and settings
/// ([`settings`]) are its methods.
pub struct Accounts {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// Sessions' users are cached there; a change to a person forgets them.
    caches: Arc<Caches>,
    /// Signs and checks access tokens with `JWT_SECRET`.
    tokens: tokens::AccessTokens,
    /// Ended sessions are published here, so that every replica closes
    /// the WebSockets signed in with them.
    events: Arc<EventBus>,
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        caches: Arc<Caches>,
        tokens: tokens::AccessTokens,
        events: Arc<EventBus>,
    ) -> Self {
        Self {
            db,
            clock,
            caches,
            tokens,
            events,
        }
    }

    /// The access-token key (benchmarks mint tokens with it).
    pub fn tokens(&self) -> &tokens::AccessTokens {
        &self.tokens
    }
}
