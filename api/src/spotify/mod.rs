//! The Spotify service: the one HTTP client ([`client`]) and how it reads
//! Spotify's answers ([`answers`]), the pause Spotify orders with a 429
//! ([`pause`], the `spotify_clients` table), the token vault
//! ([`vault`], the `spotify_links` table), authorization's protocol side
//! ([`authorize`], the `oauth_states` table), track links ([`links`]), the
//! track catalogue ([`catalog`], the `tracks` table), "now playing"
//! ([`now_playing`]) and the consent-expiry warning ([`expiry`]).
//!
//! [`Spotify`] holds what the service keeps in the process: the client,
//! the sealing key, the per-person refresh locks, the now-playing cache
//! and the short-link resolver. Its methods are in the file of their topic.
use std::{collections::HashMap, sync::Arc};

use sea_orm::DatabaseConnection;

use crate::{clock::Clock, crypto::Sealer, jobs::Jobs, notify::Notifier};

pub mod answers;
pub mod authorize;
pub mod budget;
pub mod catalog;
pub mod client;
pub mod expiry;
pub mod links;
pub mod now_playing;
pub mod pause;
pub mod vault;

pub use client::SpotifyClient;

/// The Spotify service.
pub struct Spotify {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// The host's Spotify client (real, or pointed at a stand-in).
    client: Arc<SpotifyClient>,
    /// People's own Spotify apps (public PKCE clients), by client id, made
    /// on first use and kept (their pause lives in them on SQLite).
    own_clients: std::sync::Mutex<HashMap<String, Arc<SpotifyClient>>>,
    /// Seals tokens and PKCE verifiers at rest (`ENCRYPTION_KEY`).
    sealer: Sealer,
    /// One token refresh at a time per person.
    locks: vault::RefreshLocks,
    /// "Now playing" per person, 15 seconds.
    now_playing: now_playing::NowPlayingCache,
    /// Short links (spotify.link) are followed through this.
    links: links::LinkResolver,
    /// Where browsers are sent to authorize (`…/authorize`).
    authorize_base: String,
    /// Where Spotify sends them back: `{public URL}/auth/spotify/callback`.
    redirect_uri: String,
    /// Tells a person whose link stopped working.
    notify: Arc<Notifier>,
    /// Wakes a worker for that notice.
    jobs: Jobs,
}

/// What [`Spotify::new`] needs besides the process's handles.
pub struct Config {
    pub client: SpotifyClient,
    pub sealer: Sealer,
    pub links: links::LinkResolver,
    pub authorize_base: String,
    pub public_url: String,
}

impl Spotify {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        config: Config,
        notify: Arc<Notifier>,
        jobs: Jobs,
    ) -> Self {
        Self {
            db,
            clock,
            client: Arc::new(config.client),
            own_clients: std::sync::Mutex::default(),
            sealer: config.sealer,
            locks: vault::RefreshLocks::default(),
            now_playing: now_playing::NowPlayingCache::default(),
            links: config.links,
            authorize_base: config.authorize_base,
            redirect_uri: format!("{}/auth/spotify/callback", config.public_url),
            notify,
            jobs,
        }
    }

    /// The sealing key (benchmarks seed sealed tokens with it).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The host's client: catalogue lookups, and calls with the tokens of
    /// links made through the host's app.
    pub fn client(&self) -> &SpotifyClient {
        &self.client
    }

    /// The client of `client_id` (a person's own app), or the host's for
    /// `None`.
    pub fn client_for(&self, client_id: Option<&str>) -> Arc<SpotifyClient> {
        let Some(client_id) = client_id.filter(|id| *id != self.client.client_id()) else {
            return self.client.clone();
        };
        let mut own = self.own_clients.lock().expect("own spotify clients");
        own.entry(client_id.to_owned())
            .or_insert_with(|| Arc::new(self.client.public_client(client_id)))
            .clone()
    }

    /// Until when Spotify paused this server's calls (a 429: its rate
    /// limit, or the app's daily quota), if it did; listen receipts resume
    /// then.
    pub async fn paused_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.client.pause().await.map(|pause| pause.until)
    }

    /// Ends the pauses in force of the host's app and of the people's own
    /// apps this process made clients for (the sandbox's reset); answers
    /// how many ended.
    ///
    /// # Errors
    /// The database's.
    pub async fn lift_pauses(&self) -> Result<usize, sea_orm::DbErr> {
        let own: Vec<Arc<SpotifyClient>> = self
            .own_clients
            .lock()
            .expect("own spotify clients")
            .values()
            .cloned()
            .collect();
        let mut lifted = 0;
        for client in std::iter::once(&self.client).chain(&own) {
            lifted += usize::from(client.lift_pause().await?);
        }
        Ok(lifted)
    }

    /// Whether the Spotify account `account` (its `account_id`, or its
    /// user id) is linked to someone here.
    ///
    /// # Errors
    /// The database's.
    pub async fn is_linked(&self, account: &str) -> Result<bool, sea_orm::DbErr> {
        vault::account_linked(&self.db, account).await
    }

    /// The track a link of any form names (short links followed).
    ///
    /// # Errors
    /// As [`links::LinkResolver::resolve`].
    pub async fn resolve(&self, link: &str) -> crate::error::Result<links::TrackId> {
        self.links.resolve(link).await
    }
}
