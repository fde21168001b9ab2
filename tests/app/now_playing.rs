//! "Now playing" over GraphQL and the public REST route: who may see it,
//! the readable text, CORS, and the 15-second cache.
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use api::spotify::links::TrackId;

use crate::helpers::{error_code, spawn_app};

const NOW_PLAYING: &str =
    "query($h: String!) { nowPlaying(handle: $h) { isPlaying text at track { id name artists } } }";
const ID: &str = "4uLU6hMCjMI75M1A2tKUQC";

#[tokio::test]
async fn it_says_what_is_playing_and_else_what_was_last_played() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;
    let track = TrackId::parse(ID).unwrap();
    app.spotify
        .record_play("samspot", &track, app_now(&app) - TimeDelta::minutes(30));

    let last = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access)).await;
    let last = &last["data"]["nowPlaying"];
    assert_eq!(last["isPlaying"], false, "{last}");
    assert_eq!(last["track"]["id"], ID);
    let name = last["track"]["name"].as_str().unwrap();
    let artist = last["track"]["artists"][0].as_str().unwrap();
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("sam last listened to “{name}” by {artist}"))
    );

    app.spotify.record_play("samspot", &track, app_now(&app));
    app.clock.advance(Duration::from_secs(16));
    let now = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access)).await;
    assert_eq!(now["data"]["nowPlaying"]["isPlaying"], true, "{now}");
    assert!(
        now["data"]["nowPlaying"]["text"]
            .as_str()
            .unwrap()
            .starts_with("sam is listening to “")
    );
}

fn app_now(app: &crate::helpers::TestApp) -> chrono::DateTime<chrono::Utc> {
    use api::clock::Clock as _;
    app.clock.now()
}

#[tokio::test]
async fn friends_may_look_and_strangers_may_not() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let kim = app.sign_up("kim").await;
    app.befriend(&sam, &alex).await;
    app.link_spotify(&sam, "samspot").await;

    let friend = app
        .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&alex.access))
        .await;
    assert_eq!(
        friend["data"]["nowPlaying"]["text"], "sam hasn't played anything lately",
        "{friend}"
    );
    let stranger = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&kim.access)).await;
    assert_eq!(error_code(&stranger), Some("FORBIDDEN"), "{stranger}");
    let unlinked = app
        .graphql(NOW_PLAYING, json!({ "h": "alex" }), Some(&sam.access))
        .await;
    assert_eq!(
        unlinked["data"]["nowPlaying"]["text"],
        "alex hasn't connected Spotify yet"
    );
    let nobody = app
        .graphql(NOW_PLAYING, json!({ "h": "ghost" }), Some(&sam.access))
        .await;
    assert!(nobody["data"]["nowPlaying"].is_null());
    let anonymous = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn the_rest_route_is_404_until_made_public_and_then_open_to_any_page() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;
    app.spotify.record_play(
        "samspot",
        &TrackId::parse(ID).unwrap(),
        app_now(&app) - TimeDelta::hours(1),
    );
    let url = format!("{}/v1/users/sam/now-playing", app.address);

    let hidden = app.client.get(&url).send().await.unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/v1/users/ghost/now-playing").await.status(),
        StatusCode::NOT_FOUND
    );

    app.make_now_playing_public(&sam).await;
    let shown = app
        .client
        .get(&url)
        .header(header::ORIGIN, "https://sam.example")
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let body: Value = shown.json().await.unwrap();
    assert_eq!(body["isPlaying"], false);
    assert_eq!(body["track"]["id"], ID);
    assert!(body["text"].as_str().unwrap().starts_with("sam last listened to"));

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header(header::ORIGIN, "https://sam.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn a_hundred_concurrent_requests_make_one_upstream_call() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;
    app.spotify
        .record_play("samspot", &TrackId::parse(ID).unwrap(), app_now(&app));
    app.make_now_playing_public(&sam).await;
    let url = format!("{}/v1/users/sam/now-playing", app.address);

    let requests = (0..100).map(|_| {
        let client = app.client.clone();
        let url = url.clone();
        tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() })
    });
    let answers: Vec<Value> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert!(
        answers.iter().all(|a| a == &answers[0] && a["isPlaying"] == true),
        "{:?}",
        answers[0]
    );
    assert_eq!(app.spotify.calls("/v1/me/player/currently-playing"), 1);
    assert_eq!(app.spotify.calls("/v1/me/player/recently-played"), 0);
    // After 15 seconds the next request asks Spotify again.
    app.clock.advance(Duration::from_secs(16));
    app.client.get(&url).send().await.unwrap();
    assert_eq!(app.spotify.calls("/v1/me/player/currently-playing"), 2);
}
