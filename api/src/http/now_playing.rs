//! `GET /v1/users/{handle}/now-playing`: JSON for static web pages, for
//! people who made it public. CORS `*`: any page may show it. `stale` is
//! true (and `fetchedAt` says how old) when Spotify could not be asked
//! just now and an older answer is served.
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    app::AppState,
    error::Error,
    listening::{self, Asker, Seen},
};

pub async fn show(State(app): State<AppState>, Path(handle): Path<String>) -> Response {
    match listening::now_playing(&app, Asker::Anyone, &handle).await {
        Ok(Seen::Playing(playing)) => {
            let track = playing.track.as_ref().map(|t| {
                json!({
                    "id": t.id,
                    "uri": format!("spotify:track:{}", t.id),
                    "url": format!("https://open.spotify.com/track/{}", t.id),
                    "name": t.name,
                    "artists": t.artist_names(),
                    "album": t.album,
                    "durationMs": t.duration_ms,
                    "imageUrl": t.image_url,
                })
            });
            Json(json!({
                "isPlaying": playing.is_playing,
                "track": track,
                "at": playing.at,
                "text": playing.text,
                "fetchedAt": playing.fetched_at,
                "stale": playing.stale,
            }))
            .into_response()
        }
        Ok(Seen::Unknown | Seen::Hidden { .. }) => {
            Error::not_found(format!("@{handle} does not share what they play")).into_response()
        }
        Err(err) => err.into_response(),
    }
}
