//! `GET /v1/users/{handle}/now-playing`: JSON for static web pages, for
//! people who made it public. CORS `*`: any page may show it.
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    accounts::users,
    app::AppState,
    error::{Error, Result},
    spotify::now_playing,
};

pub async fn show(State(app): State<AppState>, Path(handle): Path<String>) -> Response {
    match lookup(&app, &handle).await {
        Ok(Some(body)) => Json(body).into_response(),
        Ok(None) => Error::not_found(format!("@{handle} does not share what they play")).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The answer for `handle`; `None` when they do not exist or are not public.
/// Who the handle is (and whether they are public) is kept for 15 seconds,
/// like the Spotify data behind the answer, so a busy page costs no
/// statement and at most one Spotify call per 15 seconds.
async fn lookup(app: &AppState, handle: &str) -> Result<Option<serde_json::Value>> {
    let key = handle.trim().trim_start_matches('@').to_lowercase();
    let now = app.clock.now();
    let user = match app.caches.public_people.get(&key, now) {
        Some(user) => user,
        None => {
            let found = users::find_by_handle(&app.db, &key)
                .await?
                .filter(|u| u.now_playing_public);
            app.caches.public_people.put(key, found.clone(), now);
            found
        }
    };
    let Some(user) = user else { return Ok(None) };
    let playing = now_playing::for_user(app, &user).await?;
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
    Ok(Some(
        json!({ "isPlaying": playing.is_playing, "track": track, "at": playing.at, "text": playing.text }),
    ))
}
