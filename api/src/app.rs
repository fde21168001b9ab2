//! The application's state: [`App`], what every edge and every job stands
//! on, built once by `startup` and shared as [`AppState`].
//!
//! State only: no building here and no logic. Fields are grouped: the
//! ground every layer uses (database, clock, settings, jobs, events,
//! caches), then one object per service that keeps process state of its
//! own. An edge's own state (the GraphQL schema, the webhook's writer, the
//! sandbox's stand-ins) is held by that edge, not here.
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::Accounts, cache::Caches, clock::Clock, config::Settings, crypto::Signer, events::EventBus,
    friends::Friends, jobs::Jobs, notify::Notifier, persisted_queries::PersistedQueries, shares::tracked::TrackedLinks,
    spotify::Spotify, telemetry::Telemetry,
};

/// Everything a request handler, resolver or worker needs, built once.
pub struct App {
    /// The one database pool (SQLite or PostgreSQL); all state lives there.
    pub db: DatabaseConnection,
    /// "Now" for everything time-based; tests substitute a clock they move.
    pub clock: Arc<dyn Clock>,
    /// Settings read at start-up.
    pub settings: Settings,
    /// External base URL (setting, or this server's own address).
    pub public_url: String,
    /// Background work: commit jobs through it to wake a worker.
    pub jobs: Jobs,
    /// Live events for GraphQL subscriptions.
    pub events: Arc<EventBus>,
    /// Every short-lived cache of people (sessions, friends lists, public
    /// handles).
    pub caches: Arc<Caches>,
    /// GraphQL documents by hash, for clients that send hashes instead
    /// (automatic persisted queries).
    pub persisted_queries: PersistedQueries,
    /// The metrics registry and the statement counter.
    pub telemetry: Telemetry,
    /// Cancelled when the server stops: WebSocket connections and workers
    /// watch it to finish what they are doing and leave.
    pub shutdown: CancellationToken,
    /// Open WebSocket connections: shutdown waits until each has sent its
    /// close frame.
    pub websockets: TaskTracker,

    /// Sign-up, log-in, sessions, settings.
    pub accounts: Accounts,
    /// Friend requests and lists.
    pub friends: Friends,
    /// The Spotify client, token vault, catalogue and now playing.
    pub spotify: Arc<Spotify>,
    /// The outbox: notifications and bot replies, FCM and the Send API.
    pub notify: Arc<Notifier>,
    /// Signs the personal links the Messenger bot sends
    /// (`linking::messenger`).
    pub personal_links: Signer,
    /// Makes and reads the links to shared tracks that recipients get
    /// (`/s/{token}`: they record `OPENED`); the outbox holds the same.
    pub tracked_links: Arc<TrackedLinks>,
}

/// Cheap to clone; handed to axum and to async-graphql alike.
pub type AppState = Arc<App>;

/// Use cases' and edges' jobs run with the whole app.
impl AsRef<App> for App {
    fn as_ref(&self) -> &App {
        self
    }
}

/// The Spotify service's jobs run with it.
impl AsRef<crate::spotify::Spotify> for App {
    fn as_ref(&self) -> &crate::spotify::Spotify {
        &self.spotify
    }
}

/// The outbox's jobs run with the outbox.
impl AsRef<Notifier> for App {
    fn as_ref(&self) -> &Notifier {
        &self.notify
    }
}
