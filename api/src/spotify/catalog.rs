//! The track catalogue: metadata fetched from Spotify once per track and
//! kept in the database.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait as _, IntoActiveModel as _, sea_query::OnConflict};

use super::{
    Spotify,
    client::{ApiTrack, SpotifyError},
    links::TrackId,
};
use std::collections::HashMap;

use crate::{
    db,
    error::{Error, Result},
};
use entity::tracks;

impl Spotify {
    /// The track's metadata: from the database, or fetched once and stored.
    ///
    /// # Errors
    /// `BadUserInput` (field `track`) when Spotify has no such track;
    /// `RateLimited` or `UpstreamUnavailable` when Spotify fails us.
    #[tracing::instrument(skip(self), fields(track = %id))]
    pub async fn track(&self, id: &TrackId) -> Result<tracks::Model> {
        if let Some(found) = find(&self.db, id.as_str()).await? {
            return Ok(found);
        }
        let mut fetched = self.client.track(id).await.map_err(|err| match err {
            // Only the Web API's own answer about this track: never a
            // refusal of our credentials at the token endpoint.
            SpotifyError::Rejected { status: 400 | 404, .. } => {
                Error::bad_input("track", "Spotify has no track with this link")
            }
            other => upstream(other),
        })?;
        // Spotify may answer with a relinked track; keep it under the id asked for.
        fetched.id = id.to_string();
        remember(&self.db, &fetched, self.clock.now()).await
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

/// Stores a track Spotify sent us (from any endpoint); keeps the first copy.
/// Answers the metadata as stored from this copy.
pub async fn remember(db: &impl ConnectionTrait, track: &ApiTrack, now: DateTime<Utc>) -> Result<tracks::Model> {
    let model = to_model(track, now);
    tracks::Entity::insert(model.clone().into_active_model())
        .on_conflict(OnConflict::column(tracks::Column::Id).do_nothing().to_owned())
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
    }
}

/// What a person is told when Spotify fails us: `RATE_LIMITED` while
/// Spotify has paused this server's calls, else `UPSTREAM_UNAVAILABLE`
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
                "Spotify is busy: try again in a moment".into()
            },
            retry_after: Some(wait),
        },
        SpotifyError::Credentials(_) | SpotifyError::AccountsUnavailable(_) => unavailable(),
        other => {
            tracing::warn!(error = %other, "spotify call failed");
            unavailable()
        }
    }
}

fn unavailable() -> Error {
    Error::UpstreamUnavailable("Spotify is not answering right now: try again in a moment".into())
}
