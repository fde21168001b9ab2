//! The upstream budget: one request may make at most 50 lookups on
//! Spotify (refused before any call beyond that), the same link asked for
//! many times is looked up once, and each person's lookups of tracks new
//! to the catalogue are limited per hour. Calls are counted at the
//! Spotify stand-in.
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, error_message, relog, spawn_app};

const LOOKUPS: &str = "/v1/tracks/{id}";

/// The `n`th made-up track id (22 base-62 characters).
fn track_id(n: usize) -> String {
    format!("{n:0>22}")
}

/// One operation with one aliased `track` field per link.
fn aliases(links: &[String]) -> String {
    let fields: Vec<String> = links
        .iter()
        .enumerate()
        .map(|(n, link)| format!("t{n}: track(link: \"{link}\") {{ id }}"))
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

async fn ask(app: &TestApp, links: &[String], token: &str) -> Value {
    app.graphql(&aliases(links), json!({}), Some(token)).await
}

#[tokio::test]
async fn nine_hundred_aliases_of_different_tracks_are_refused_before_any_call() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let links: Vec<String> = (0..900).map(track_id).collect();

    let body = ask(&app, &links, &sam.access).await;

    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(error_message(&body).contains("at most 50"), "{body}");
    assert_eq!(app.spotify.calls(LOOKUPS), 0, "refused before the first call");
}

#[tokio::test]
async fn fifty_tracks_in_one_request_are_fifty_calls_and_repeated_links_are_one() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let links: Vec<String> = (0..50).map(track_id).collect();

    let body = ask(&app, &links, &sam.access).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["t49"]["id"], track_id(49));
    assert_eq!(app.spotify.calls(LOOKUPS), 50);

    let same: Vec<String> = vec![track_id(1000); 900];
    let body = ask(&app, &same, &sam.access).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["t899"]["id"], track_id(1000));
    assert_eq!(app.spotify.calls(LOOKUPS), 51, "900 aliases of one link: one call");
}

#[tokio::test]
async fn a_persons_lookups_of_new_tracks_are_limited_per_hour() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    for batch in 0..2 {
        let links: Vec<String> = (batch * 50..batch * 50 + 50).map(track_id).collect();
        let body = ask(&app, &links, &sam.access).await;
        assert!(body["errors"].is_null(), "batch {batch}: {body}");
    }
    assert_eq!(app.spotify.calls(LOOKUPS), 100);

    let over = ask(&app, &[track_id(500)], &sam.access).await;
    assert_eq!(error_code(&over), Some("RATE_LIMITED"), "{over}");
    assert!(over["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    assert_eq!(app.spotify.calls(LOOKUPS), 100, "refused without a call");
    let known = ask(&app, &[track_id(7)], &sam.access).await;
    assert_eq!(
        known["data"]["t0"]["id"],
        track_id(7),
        "tracks in the catalogue cost nothing"
    );
    let other = ask(&app, &[track_id(500)], &alex.access).await;
    assert_eq!(
        other["data"]["t0"]["id"],
        track_id(500),
        "another person has lookups of their own"
    );

    app.advance(Duration::from_secs(3601));
    let access = relog(&app, &sam).await;
    let later = ask(&app, &[track_id(501)], &access).await;
    assert_eq!(later["data"]["t0"]["id"], track_id(501), "an hour later: {later}");
}
