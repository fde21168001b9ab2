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
        Ok(body) => Json(body).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn lookup(app: &AppState, handle: &str) -> Result<serde_json::Value> {
    let hidden = || Error::not_found(format!("@{handle} does not share what they play"));
    let user = users::find_by_handle(&app.db, handle).await?.ok_or_else(hidden)?;
    if !user.now_playing_public {
        return Err(hidden());
    }
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
    Ok(json!({ "isPlaying": playing.is_playing, "track": track, "at": playing.at, "text": playing.text }))
}
