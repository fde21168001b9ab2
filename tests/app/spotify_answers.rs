//! Spotify answers that carry no usable track — local files, episodes, ads,
//! `item` null, 204, history items whose `track` is null or local — against
//! the scripted Spotify answering the documented bodies of
//! `tests/fixtures/spotify/`: now playing names a local file or says
//! nothing is playing, never an error; detection skips them.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use api::clock::Clock as _;

use crate::{
    fixtures::{Canned, canned, json as fixture_json},
    helpers::{TestApp, relog},
    messenger::{SECRET, page_body, sign, text_event},
    notify_fakes::{self, Recorded},
    shares::share,
    spotify_fake::Shared,
    spotify_tokens::app_with_scripted_spotify_and,
};

const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text track { id } } }";
const CURRENT: &str = "/v1/me/player/currently-playing";
const RECENT: &str = "/v1/me/player/recently-played";

/// A fixture page with its plays moved so that the newest is at `newest`
/// (the shape unchanged; Spotify's times are from 2026-09-15).
fn moved(file: &str, newest: DateTime<Utc>) -> Value {
    let mut page = fixture_json("spotify", file);
    let at = |item: &Value| DateTime::parse_from_rfc3339(item["played_at"].as_str().unwrap()).unwrap();
    let latest = page["items"].as_array().unwrap().iter().map(at).max().unwrap();
    for item in page["items"].as_array_mut().unwrap() {
        let played = newest + (at(item) - latest);
        item["played_at"] = json!(played.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    page
}

/// Moves past the 15-second now-playing cache and asks again.
async fn now_playing(app: &TestApp, script: &Shared, access: &str, answer: Canned) -> Value {
    script.lock().unwrap().always(CURRENT, answer);
    app.advance(Duration::from_secs(16));
    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(access)).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["nowPlaying"].clone()
}

#[tokio::test]
async fn now_playing_names_a_local_file_and_says_nothing_plays_for_episodes_ads_and_empty_answers() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    app.make_now_playing_public(&sam).await;

    let local = now_playing(
        &app,
        &script,
        &sam.access,
        canned("spotify", "currently_playing_local_file.json"),
    )
    .await;
    assert_eq!(local["text"], "sam is listening to a local file: “929” by Halsey");
    assert_eq!(local["isPlaying"], true);
    assert!(local["track"].is_null(), "no catalogue track: {local}");

    let public = app.get("/v1/users/sam/now-playing").await;
    assert_eq!(public.status(), StatusCode::OK);
    let public: Value = public.json().await.unwrap();
    assert_eq!(public["text"], "sam is listening to a local file: “929” by Halsey");
    assert!(public["track"].is_null());

    let untagged = canned("spotify", "currently_playing_local_file_without_tags.json");
    let untagged = now_playing(&app, &script, &sam.access, untagged).await;
    assert_eq!(
        untagged["text"],
        "sam is listening to a local file: “rehearsal take 3 (final) v2”"
    );

    for nothing in [
        "currently_playing_episode_item_null.json",
        "currently_playing_episode_with_additional_types.json",
        "currently_playing_ad.json",
        "currently_playing_item_null.json",
        "currently_playing_unknown.json",
        "currently_playing_204_no_content.txt",
        "error_404_non_existing_id.json",
    ] {
        let quiet = now_playing(&app, &script, &sam.access, canned("spotify", nothing)).await;
        assert_eq!(quiet["text"], "sam hasn't played anything lately", "{nothing}");
        assert_eq!(quiet["isPlaying"], false, "{nothing}");
    }

    let paused = now_playing(
        &app,
        &script,
        &sam.access,
        canned("spotify", "currently_playing_track_paused.json"),
    )
    .await;
    assert_eq!(paused["isPlaying"], false);
    assert!(paused["text"].as_str().unwrap().starts_with("sam paused “"), "{paused}");
}

#[tokio::test]
async fn the_last_play_can_be_a_local_file_and_a_null_track_is_nothing() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let now = app.clock.now();
    let mut local_last = moved("recently_played_with_local_file.json", now - TimeDelta::minutes(5));
    local_last["items"].as_array_mut().unwrap().remove(0);
    let answer = canned("spotify", "recently_played_with_local_file.json").with_json(&local_last);
    script.lock().unwrap().always(RECENT, answer);

    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access)).await;
    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam last listened to a local file: “929” by Halsey",
        "{body}"
    );

    let mut null_first = moved("recently_played_with_null_track.json", now);
    null_first["items"].as_array_mut().unwrap().remove(0);
    let answer = canned("spotify", "recently_played_with_null_track.json").with_json(&null_first);
    script.lock().unwrap().always(RECENT, answer);
    app.advance(Duration::from_secs(16));
    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access)).await;
    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam hasn't played anything lately",
        "{body}"
    );
}

#[tokio::test]
async fn the_bot_names_a_local_file_too() {
    let fakes = std::sync::Arc::new(std::sync::Mutex::new(Recorded::default()));
    let base = crate::helpers::serve(notify_fakes::router(fakes.clone())).await;
    let graph = format!("{base}/graph");
    let (app, script, sam) = app_with_scripted_spotify_and(&[
        ("MESSENGER_APP_SECRET", SECRET),
        ("MESSENGER_PAGE_TOKEN", "page-token"),
        ("MESSENGER_GRAPH_URL", &graph),
    ])
    .await;
    script
        .lock()
        .unwrap()
        .always(CURRENT, canned("spotify", "currently_playing_local_file.json"));
    let code = app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await["data"]["createLinkCode"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let ms = app.clock.now().timestamp_millis();
    for (n, text) in [code.as_str(), "now sam"].into_iter().enumerate() {
        let ts = ms + n as i64;
        let body = page_body(vec![vec![text_event("psam", &format!("m{ts}"), text, ts)]]);
        let posted = app
            .client
            .post(format!("{}/webhooks/messenger", app.address))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", sign(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::OK);
        app.run_due_jobs().await;
    }

    let said: Vec<String> = fakes
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|(psid, _)| psid == "psam")
        .map(|(_, body)| body["message"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        said.last().unwrap(),
        "sam is listening to a local file: “929” by Halsey",
        "{said:?}"
    );
}

#[tokio::test]
async fn detection_skips_local_files_and_null_tracks_and_still_finds_the_play() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let alex = app.sign_up("alex").await;
    app.befriend(&alex, &sam).await;
    // Tracks that come after the odd item in each page.
    let behind_local = share(&app, &alex, "sam", "spotify:track:4x4liZoACWtsICoK6eR1JX").await;
    let behind_null = share(&app, &alex, "sam", "spotify:track:8Zmw81qyCpImjbK0UfOMHs").await;
    let shared_at = app.clock.now();
    let mut page = moved(
        "recently_played_with_local_file.json",
        shared_at + TimeDelta::minutes(20),
    );
    let with_null = moved(
        "recently_played_with_null_track.json",
        shared_at + TimeDelta::minutes(20),
    );
    let items = page["items"].as_array_mut().unwrap();
    items.extend(with_null["items"].as_array().unwrap().iter().cloned());
    items.sort_by_key(|item| std::cmp::Reverse(item["played_at"].as_str().unwrap().to_owned()));
    script.lock().unwrap().always(
        RECENT,
        canned("spotify", "recently_played_with_local_file.json").with_json(&page),
    );

    app.advance(Duration::from_secs(21 * 60));
    app.run_due_jobs().await;

    let access = relog(&app, &alex).await;
    for shared in [&behind_local, &behind_null] {
        let body = app
            .graphql(
                "query($id: ID!) { share(id: $id) { status playedAt } }",
                json!({ "id": shared["id"] }),
                Some(&access),
            )
            .await;
        assert_eq!(body["data"]["share"]["status"], "PLAYED", "{body}");
    }
}

#[tokio::test]
async fn tracks_of_every_documented_shape_are_read() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    for (file, name) in [
        ("track_development_mode_2026.json", None),
        ("track_extended_quota.json", None),
        ("track_extended_quota_relinked_with_isrc.json", Some("linked_from")),
        ("track_restricted.json", None),
    ] {
        let track = fixture_json("spotify", file);
        let asked = match name {
            Some(_) => track["linked_from"]["id"].as_str().unwrap().to_owned(),
            None => track["id"].as_str().unwrap().to_owned(),
        };
        script.lock().unwrap().always("/v1/tracks", canned("spotify", file));
        let body = app
            .graphql(
                "query($l: String!) { track(link: $l) { id name artists durationMs } }",
                json!({ "l": format!("spotify:track:{asked}") }),
                Some(&sam.access),
            )
            .await;
        assert_eq!(body["data"]["track"]["id"], asked, "{file}: {body}");
        assert_eq!(body["data"]["track"]["name"], track["name"], "{file}: {body}");
    }
}
