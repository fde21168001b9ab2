//! "Now playing": the current track, else the last played one, with a
//! sentence people can read. A local file is named by its tags ("a local
//! file: “929” by Halsey"); an episode, an ad or an item Spotify does not
//! describe counts as nothing playing.
//!
//! Cached per person for 15 seconds (a minute while the Spotify budget is
//! tight), and concurrent requests for the same person wait for one fetch:
//! however many requests arrive, Spotify sees at most one call per person
//! per 15 seconds. Its calls are the budget's lowest priority: when the
//! budget refuses them, the cached answer is served, marked
//! [`stale`](NowPlaying::stale), for as long as it takes; only a person
//! with no cached answer is told to try again (`RATE_LIMITED`), as is
//! everyone while Spotify itself has paused our calls (a 429: people are
//! told when it ends rather than shown an answer that may be hours old).
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{
    Spotify,
    answers::{ApiTrack, Item},
    budget::Priority,
    catalog,
    client::SpotifyError,
    vault::TokenError,
};
use crate::error::Result;
use entity::{tracks, users};

pub const FRESH_FOR: TimeDelta = TimeDelta::seconds(15);
/// How long an answer is fresh while the Spotify budget is tight.
pub const FRESH_FOR_WHEN_TIGHT: TimeDelta = TimeDelta::seconds(60);

#[derive(Debug, Clone)]
pub struct NowPlaying {
    pub is_playing: bool,
    pub track: Option<tracks::Model>,
    /// When the track was played (for the last played one).
    pub at: Option<DateTime<Utc>>,
    pub text: String,
    /// When Spotify was asked.
    pub fetched_at: DateTime<Utc>,
    /// An older answer, served because Spotify could not be asked now
    /// (the call budget, or a pause Spotify ordered).
    pub stale: bool,
}

/// A person's cached answer and when it was fetched. The async lock is what
/// makes concurrent requests share one fetch.
type Slot = Arc<tokio::sync::Mutex<Option<(DateTime<Utc>, NowPlaying)>>>;

/// One slot per person.
#[derive(Default)]
pub struct NowPlayingCache {
    slots: std::sync::Mutex<HashMap<Uuid, Slot>>,
}

impl NowPlayingCache {
    fn slot(&self, user_id: Uuid) -> Slot {
        let mut slots = self.slots.lock().expect("now playing slots");
        if slots.len() > 10_000 {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(user_id).or_default().clone()
    }
}

impl Spotify {
    /// What `user` plays now, else what they played last, with a sentence that
    /// says so (which also tells when they have not linked Spotify). Who may
    /// ask is not decided here (`crate::listening` decides).
    ///
    /// # Errors
    /// `RateLimited` or `UpstreamUnavailable` when Spotify fails us; `Internal`.
    pub async fn now_playing(&self, user: &users::Model) -> Result<NowPlaying> {
        let slot = self.now_playing.slot(user.id);
        let mut cached = slot.lock().await;
        let now = self.clock.now();
        let fresh_for = if self.client.tight() {
            FRESH_FOR_WHEN_TIGHT
        } else {
            FRESH_FOR
        };
        if let Some((at, value)) = cached.as_ref()
            && now - *at < fresh_for
        {
            return Ok(value.clone());
        }
        match self.fetch(user).await {
            Ok(value) => {
                *cached = Some((now, value.clone()));
                Ok(value)
            }
            Err(crate::error::Error::RateLimited { .. }) if cached.is_some() && self.client.pause().await.is_none() => {
                let (_, value) = cached.as_ref().expect("checked");
                Ok(NowPlaying {
                    stale: true,
                    ..value.clone()
                })
            }
            Err(err) => Err(err),
        }
    }

    async fn fetch(&self, user: &users::Model) -> Result<NowPlaying> {
        let name = &user.display_name;
        let fetched_at = self.clock.now();
        let quiet = |text: String| NowPlaying {
            is_playing: false,
            track: None,
            at: None,
            text,
            fetched_at,
            stale: false,
        };
        let token = match self.access_token(user.id).await {
            Ok(token) => token,
            Err(TokenError::NotLinked) => return Ok(quiet(format!("{name} hasn't connected Spotify yet"))),
            Err(TokenError::RelinkRequired) => return Ok(quiet(format!("{name} needs to reconnect Spotify"))),
            Err(TokenError::Spotify(err)) => return Err(catalog::upstream(err)),
            Err(TokenError::Internal(err)) => return Err(err.into()),
        };
        let (current, token) = self
            .with_refresh(user.id, token, |t| async move {
                self.client.currently_playing(&t, Priority::Interactive).await
            })
            .await?;
        if let Some(playing) = current
            && let Some((track, what)) = self.named(&playing.item).await?
        {
            let verb = if playing.is_playing {
                "is listening to"
            } else {
                "paused"
            };
            return Ok(NowPlaying {
                is_playing: playing.is_playing,
                track,
                at: Some(self.clock.now()),
                text: format!("{name} {verb} {what}"),
                fetched_at,
                stale: false,
            });
        }
        let (recent, _) = self
            .with_refresh(user.id, token, |t| async move {
                self.client.recently_played(&t, None, 1, Priority::Interactive).await
            })
            .await?;
        let Some(play) = recent.into_iter().next() else {
            return Ok(quiet(format!("{name} hasn't played anything lately")));
        };
        let Some((track, what)) = self.named(&play.item).await? else {
            return Ok(quiet(format!("{name} hasn't played anything lately")));
        };
        Ok(NowPlaying {
            is_playing: false,
            text: format!("{name} last listened to {what}"),
            track,
            at: Some(play.played_at),
            fetched_at,
            stale: false,
        })
    }

    /// Runs `call`; on a 401 refreshes the token once and runs it again.
    async fn with_refresh<T, F, Fut>(&self, user_id: Uuid, token: String, call: F) -> Result<(T, String)>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, SpotifyError>>,
    {
        match call(token.clone()).await {
            Ok(value) => Ok((value, token)),
            Err(SpotifyError::Unauthorized) => {
                let fresh = self
                    .refresh_after_rejection(user_id, &token)
                    .await
                    .map_err(token_failure)?;
                let value = call(fresh.clone()).await.map_err(catalog::upstream)?;
                Ok((value, fresh))
            }
            Err(err) => Err(catalog::upstream(err)),
        }
    }

    /// The track an item is (stored in the catalogue) and how people see it
    /// named; `None` for what has no name (an episode, an ad, …).
    async fn named(&self, item: &Item) -> Result<Option<(Option<tracks::Model>, String)>> {
        Ok(match item {
            Item::Track(item) => {
                let track = self.stored(item).await?;
                let what = track.describe();
                Some((Some(track), what))
            }
            Item::Local(file) => Some((None, file.describe())),
            Item::Other => None,
        })
    }

    async fn stored(&self, track: &ApiTrack) -> Result<tracks::Model> {
        catalog::remember(&self.db, track, self.clock.now()).await
    }
}

fn token_failure(err: TokenError) -> crate::error::Error {
    match err {
        TokenError::Spotify(err) => catalog::upstream(err),
        TokenError::Internal(err) => err.into(),
        other => crate::error::Error::UpstreamUnavailable(format!("Spotify refused access: {other}")),
    }
}
