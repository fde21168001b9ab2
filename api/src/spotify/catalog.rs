//! The track catalogue: metadata fetched from Spotify once per track and
//! kept in the database, with the recording's ISRC. Rows stored before
//! ISRCs were kept get theirs the first time a track passes through again
//! (any endpoint's answer), or when a check needs it ([`Spotify::isrc`]).
//!
//! Looking up tracks that are not in the catalogue costs calls on the
//! app's one Spotify client, whose rate limit everyone shares (play
//! detection too): each person may cause [`LOOKUPS_PER_HOUR`] of them,
//! counted before any call is made ([`crate::throttle`]).
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt as _, stream};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, IntoActiveModel as _, QueryFilter as _,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::{
    Spotify,
    budget::Priority,
    client::{ApiTrack, SpotifyError},
    links::TrackId,
};
use std::collections::HashMap;

use crate::{
    db,
    error::{Error, Result},
    throttle::{self, Limit, Verdict},
};
use entity::tracks;

/// Tracks missing from the catalogue one person may have looked up on
/// Spotify in an hour.
pub const LOOKUPS_PER_HOUR: i32 = 100;
/// Calls to Spotify at once for one batch of lookups.
const FETCHES_AT_ONCE: usize = 8;

/// What a lookup of one track came to: the track, or why not (not on
/// Spotify, the person's lookups are used up, Spotify failed us).
pub type Lookup = std::result::Result<tracks::Model, std::sync::Arc<Error>>;

impl Spotify {
    /// The track's metadata, looked up for `person`: from the database, or
    /// fetched once and stored.
    ///
    /// # Errors
    /// `BadUserInput` (field `track`) when Spotify has no such track;
    /// `RateLimited` when `person` used up their lookups (or Spotify asks us
    /// to wait); `UpstreamUnavailable` when Spotify fails us.
    #[tracing::instrument(skip(self), fields(track = %id))]
    pub async fn track_for(&self, person: Uuid, id: &TrackId) -> Result<tracks::Model> {
        let mut found = self.tracks_for(person, std::slice::from_ref(id)).await?;
        match found.remove(id) {
            Some(Ok(track)) => Ok(track),
            Some(Err(err)) => Err(std::sync::Arc::try_unwrap(err).unwrap_or_else(|shared| shared.duplicate())),
            None => Err(no_such_track()),
        }
    }

    /// Many tracks looked up for `person` at once (a data loader's batch):
    /// one read of the catalogue, then one Spotify call per missing track,
    /// a few at a time, once `person`'s hourly lookups allow them all.
    ///
    /// # Errors
    /// `Internal` for the database; each track's own trouble is its
    /// [`Lookup`] (as [`track_for`](Self::track_for)).
    pub async fn tracks_for(&self, person: Uuid, ids: &[TrackId]) -> Result<HashMap<TrackId, Lookup>> {
        let keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let stored = load_many(&self.db, &keys).await?;
        let mut found: HashMap<TrackId, Lookup> = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match stored.get(id.as_str()) {
                Some(track) => {
                    found.insert(id.clone(), Ok(track.clone()));
                }
                None if !missing.contains(id) => missing.push(id.clone()),
                None => {}
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let limit = Limit {
            max: LOOKUPS_PER_HOUR,
            window: TimeDelta::hours(1),
        };
        let cost = i32::try_from(missing.len()).unwrap_or(i32::MAX);
        let key = format!("spotify-lookups:{person}");
        if let Verdict::Refused { retry_after } =
            throttle::attempt(&self.db, &key, limit, cost, self.clock.now()).await?
        {
            let refused = std::sync::Arc::new(Error::RateLimited {
                message: format!(
                    "you looked up {LOOKUPS_PER_HOUR} new tracks in the last hour: try again in {} minutes",
                    retry_after.as_secs().div_ceil(60)
                ),
                retry_after: Some(retry_after),
            });
            found.extend(missing.into_iter().map(|id| (id, Err(refused.clone()))));
            return Ok(found);
        }
        let fetched: Vec<(TrackId, Lookup)> = stream::iter(missing)
            .map(|id| async move {
                let lookup = self.fetch_track(&id).await.map_err(std::sync::Arc::new);
                (id, lookup)
            })
            .buffer_unordered(FETCHES_AT_ONCE)
            .collect()
            .await;
        found.extend(fetched);
        Ok(found)
    }

    /// One track from Spotify, stored in the catalogue.
    async fn fetch_track(&self, id: &TrackId) -> Result<tracks::Model> {
        let mut fetched = self
            .client
            .track(id, Priority::Interactive)
            .await
            .map_err(|err| match err {
                // Only the Web API's own answer about this track: never a
                // refusal of our credentials at the token endpoint.
                SpotifyError::Rejected { status: 400 | 404, .. } => no_such_track(),
                other => upstream(other),
            })?;
        // Spotify may answer with a relinked track; keep it under the id asked for.
        fetched.id = id.to_string();
        remember(&self.db, &fetched, self.clock.now()).await
    }
}

fn no_such_track() -> Error {
    Error::bad_input("track", "Spotify has no track with this link")
}

impl Spotify {
    /// The ISRC of a track in the catalogue: as stored, or, for a row stored
    /// before ISRCs were kept, read from Spotify once (the same call as
    /// [`track_for`](Self::track_for), through the one client) and stored. `None`
    /// when Spotify gives none, or cannot be asked right now (the next
    /// check asks again).
    #[tracing::instrument(skip_all, fields(track = %track.id))]
    pub async fn isrc(&self, track: &tracks::Model) -> Result<Option<String>> {
        if track.isrc_known {
            return Ok(track.isrc.clone());
        }
        let Some(id) = TrackId::parse(&track.id) else {
            return Ok(None);
        };
        let fetched = match self.client.track(&id, Priority::Receipts).await {
            Ok(fetched) => fetched,
            Err(err) => {
                tracing::warn!(error = %err, "reading a track's ISRC failed; matching by id only for now");
                return Ok(None);
            }
        };
        let isrc = fetched.isrc().map(str::to_owned);
        tracks::Entity::update_many()
            .col_expr(tracks::Column::Isrc, Expr::value(isrc.clone()))
            .col_expr(tracks::Column::IsrcKnown, Expr::value(true))
            .filter(tracks::Column::Id.eq(track.id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(isrc)
    }
}

/// Tracks by id, many at once (the data loader).
pub async fn load_many(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<HashMap<String, tracks::Model>, sea_orm::DbErr> {
    db::by_keys::<tracks::Entity, _>(db, tracks::Column::Id, ids, |row| row.id.clone()).await
}

/// A track already in the catalogue.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<tracks::Model>, sea_orm::DbErr> {
    tracks::Entity::find_by_id(id).one(db).await
}

/// Stores a track Spotify sent us (from any endpoint); keeps the first copy,
/// but gives a row stored before ISRCs were kept this copy's ISRC. Answers
/// the metadata as stored from this copy.
pub async fn remember(db: &impl ConnectionTrait, track: &ApiTrack, now: DateTime<Utc>) -> Result<tracks::Model> {
    let model = to_model(track, now);
    tracks::Entity::insert(model.clone().into_active_model())
        .on_conflict(
            OnConflict::column(tracks::Column::Id)
                .update_columns([tracks::Column::Isrc, tracks::Column::IsrcKnown])
                .action_and_where(Expr::cust("tracks.isrc_known = FALSE"))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub fn to_model(track: &ApiTrack, now: DateTime<Utc>) -> tracks::Model {
    let artists: Vec<&str> = track.artists.iter().map(|a| a.name.as_str()).collect();
    tracks::Model {
        id: track.id.clone(),
        name: track.name.clone(),
        artists: serde_json::to_string(&artists).unwrap_or_else(|_| "[]".into()),
        album: track.album.as_ref().map(|a| a.name.clone()),
        duration_ms: i32::try_from(track.duration_ms).unwrap_or(i32::MAX),
        image_url: track
            .album
            .as_ref()
            .and_then(|a| a.images.first())
            .map(|i| i.url.clone()),
        fetched_at: now,
        isrc: track.isrc().map(str::to_owned),
        isrc_known: true,
    }
}

/// What a person is told when Spotify fails us: `RATE_LIMITED` while
/// Spotify has paused this server's calls, saying when to try again (and
/// carrying the wait: GraphQL's `extensions.retryAfter`), else
/// `UPSTREAM_UNAVAILABLE`
/// (also when Spotify refused this server's own credentials: that is the
/// operator's to fix, and was logged for them).
pub fn upstream(err: SpotifyError) -> Error {
    match err {
        SpotifyError::RateLimited(wait) => Error::RateLimited {
            message: if wait > std::time::Duration::from_secs(120) {
                format!(
                    "Spotify has paused this server's calls for about {}: try again then",
                    crate::notify::texts::elapsed(chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX))
                )
            } else {
                format!("Spotify is busy: try again in about {}", seconds_or_minutes(wait))
            },
            retry_after: Some(wait),
        },
        SpotifyError::OverBudget(wait) => Error::RateLimited {
            message: format!(
                "this server has used its Spotify calls for now (receipts come first): try again in {}",
                seconds_or_minutes(wait)
            ),
            retry_after: Some(wait),
        },
        SpotifyError::Credentials(_) | SpotifyError::AccountsUnavailable(_) => unavailable(),
        other => {
            tracing::warn!(error = %other, "spotify call failed");
            unavailable()
        }
    }
}

/// "12 seconds", "3 minutes": a wait, rounded up.
fn seconds_or_minutes(wait: std::time::Duration) -> String {
    match wait.as_secs_f64().ceil() as u64 {
        0..=1 => "a second".into(),
        s @ 2..=90 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

fn unavailable() -> Error {
    Error::UpstreamUnavailable("Spotify is not answering right now: try again in a moment".into())
}
