//! Track links in every form, hostile ones, short links, and the catalogue
//! (metadata fetched once per track).
use std::time::Duration;

use axum::{Router, http::header, response::IntoResponse, routing::get};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_code, error_message, serve, spawn_app, spawn_app_with};

const TRACK: &str = "query($l: String!) { track(link: $l) { id uri url name artists album durationMs imageUrl } }";
const ID: &str = "4uLU6hMCjMI75M1A2tKUQC";

#[tokio::test]
async fn every_link_form_finds_the_same_track_and_metadata_is_fetched_once() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let forms = [
        ID.to_owned(),
        format!("spotify:track:{ID}"),
        format!("https://open.spotify.com/track/{ID}?si=0a1b2c3d"),
        format!("https://open.spotify.com/intl-fr/track/{ID}"),
        format!("https://open.spotify.com/embed/track/{ID}?utm_source=generator"),
    ];
    let mut seen = Vec::new();
    for form in &forms {
        let body = app.graphql(TRACK, json!({ "l": form }), Some(&sam.access)).await;
        let track = body["data"]["track"].clone();
        assert_eq!(track["id"], ID, "{form}: {body}");
        assert_eq!(track["uri"], format!("spotify:track:{ID}"));
        assert_eq!(track["url"], format!("https://open.spotify.com/track/{ID}"));
        assert!(!track["name"].as_str().unwrap().is_empty());
        assert!(!track["artists"].as_array().unwrap().is_empty());
        assert!(track["durationMs"].as_i64().unwrap() > 0);
        seen.push(track);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        app.spotify.calls("/v1/tracks/{id}"),
        1,
        "fetched once, then from the database"
    );
}

#[tokio::test]
async fn only_tracks_can_be_shared() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for link in [
        "https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3",
        "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M?si=1",
        "https://open.spotify.com/episode/512ojhOuo1ktJprKbVcKyQ",
        "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M",
    ] {
        let body = app.graphql(TRACK, json!({ "l": link }), Some(&sam.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{link}");
        assert!(error_message(&body).contains("only tracks can be shared"), "{body}");
    }
}

#[tokio::test]
async fn hostile_links_are_refused_without_a_request() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for link in [
        "https://evil.example/track/4uLU6hMCjMI75M1A2tKUQC",
        "https://open.spotify.com.evil.example/track/4uLU6hMCjMI75M1A2tKUQC",
        "https://user:pass@open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
        "http://127.0.0.1:1/track/4uLU6hMCjMI75M1A2tKUQC",
        "spotify:track:../../etc/passwd",
        "not a link at all",
    ] {
        let body = app.graphql(TRACK, json!({ "l": link }), Some(&sam.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{link}: {body}");
    }
    assert_eq!(app.spotify.calls("/v1/tracks/{id}"), 0);
}

/// A stand-in for spotify.link: redirects like the real short-link service.
fn short_links(other: String) -> Router {
    let redirect = |to: String| move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() };
    Router::new()
        .route("/ok", get(redirect("/hop".into())))
        .route(
            "/hop",
            get(redirect(format!("https://open.spotify.com/track/{ID}?si=short"))),
        )
        .route("/loop", get(redirect("/loop".into())))
        .route("/away", get(redirect(format!("{other}/track/{ID}"))))
        .route("/off", get(redirect(format!("https://evil.example/track/{ID}"))))
        .route(
            "/album",
            get(redirect("https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3".into())),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::FOUND
            }),
        )
}

#[tokio::test]
async fn short_links_are_followed_only_between_spotify_hosts() {
    let elsewhere = serve(Router::new()).await;
    let short = serve(short_links(elsewhere)).await;
    let host = short.trim_start_matches("http://").to_owned();
    let app = spawn_app_with(&[("SPOTIFY_SHORT_LINK_HOSTS", &host)]).await;
    let sam = app.sign_up("sam").await;
    let lookup = async |path: &str| {
        app.graphql(TRACK, json!({ "l": format!("{short}{path}") }), Some(&sam.access))
            .await
    };

    assert_eq!(lookup("/ok").await["data"]["track"]["id"], ID);
    let looped = lookup("/loop").await;
    assert!(error_message(&looped).contains("too many"), "{looped}");
    for path in ["/away", "/off"] {
        let body = lookup(path).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{path}: {body}");
        assert!(error_message(&body).contains("away from Spotify"), "{body}");
    }
    assert!(error_message(&lookup("/album").await).contains("only tracks"));
    let slow = lookup("/slow").await;
    assert_eq!(error_code(&slow), Some("UPSTREAM_UNAVAILABLE"), "{slow}");
}
