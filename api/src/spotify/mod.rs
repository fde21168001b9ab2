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
use std::sync::Arc;

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
    /// The one Spotify client (real, or pointed at a stand-in).
    client: SpotifyClient,
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
            client: config.client,
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

    /// The client, for calls with a token from the vault.
    pub fn client(&self) -> &SpotifyClient {
        &self.client
    }

    /// Until when Spotify paused this server's calls (a 429: its rate
    /// limit, or the app's daily quota), if it did; listen receipts resume
    /// then.
    pub async fn paused_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.client.pause().await.map(|pause| pause.until)
    }

    /// The track a link of any form names (short links followed).
    ///
    /// # Errors
    /// As [`links::LinkResolver::resolve`].
    pub async fn resolve(&self, link: &str) -> crate::error::Result<links::TrackId> {
        self.links.resolve(link).await
    }
}
