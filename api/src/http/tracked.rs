//! `GET /s/{token}`: the tracked link to a shared track that its recipient
//! gets (push, Messenger, the bot). A genuine link records that they opened
//! the share (once) and redirects (303) to the track on Spotify: the web
//! player's link, or the `spotify:` URI with `?open=app` (for apps that
//! hand it to the Spotify app). A link that is not ours, or was changed,
//! and one past its share's expiry, get a page saying so and change nothing.
use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::auth::page;
use crate::{
    app::AppState,
    detection::live::{self, Link},
};

#[derive(Deserialize)]
pub struct OpenParams {
    /// `app`: redirect to the `spotify:track:…` URI instead of the web link.
    open: Option<String>,
}

pub async fn open(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Query(params): Query<OpenParams>,
) -> Response {
    match live::open_link(&app, &token).await {
        Ok(Link::Open { track_id }) => {
            let to = if params.open.as_deref() == Some("app") {
                format!("spotify:track:{track_id}")
            } else {
                web_link(&track_id)
            };
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Ok(Link::Expired { track_id }) => page(
            StatusCode::GONE,
            "This share has expired",
            &format!(
                "<p>A shared song waits a while to be played, and this one's time is over, so nothing was \
                 recorded. The song is still on Spotify: <a href=\"{0}\">{0}</a></p>",
                web_link(&track_id)
            ),
        ),
        Ok(Link::Unknown) => page(
            StatusCode::NOT_FOUND,
            "This link doesn't work",
            "<p>It isn't a link Send Songs made, or it was cut short or changed on the way, so nothing \
             happened. Open the song from the notification or message you got, or from the app.</p>",
        ),
        Err(err) => {
            err.log();
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>We could not open this song just now. Please try the link again in a moment.</p>",
            )
        }
    }
}

fn web_link(track_id: &str) -> String {
    format!("https://open.spotify.com/track/{track_id}")
}
