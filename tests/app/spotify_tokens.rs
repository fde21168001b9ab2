//! The token vault against a scripted Spotify: sealed at rest, refresh and
//! rotation, `invalid_grant` → `RELINK_REQUIRED`, and the 429 pause.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::json;

use crate::{
    helpers::{Session, TestApp, relog, serve, spawn_app_with},
    spotify_fake::{self, Script, Shared},
};

const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text } }";
const STATUS: &str = "{ me { spotify { status } } }";

/// The app talking to a scripted Spotify (nobody linked yet), whose
/// listener plays on the app's clock.
pub async fn scripted_spotify(extra: &[(&str, &str)]) -> (TestApp, Shared) {
    let script: Shared = Arc::new(Mutex::new(Script::default()));
    let url = serve(spotify_fake::router(script.clone())).await;
    let accounts = format!("{url}/accounts");
    let api = format!("{url}/api");
    let mut settings = vec![
        ("SPOTIFY_ACCOUNTS_URL", accounts.as_str()),
        ("SPOTIFY_API_URL", api.as_str()),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(&settings).await;
    script.lock().unwrap().clock = Some(app.clock.clone());
    (app, script)
}

/// `session` connects Spotify from the app; answers the callback page.
pub async fn connect(app: &TestApp, session: &Session) -> (reqwest::StatusCode, String) {
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&session.access))
        .await;
    app.browse(body["data"]["connectSpotify"]["url"].as_str().unwrap())
        .await
}

/// Links `session`'s Spotify: the scripted listener.
pub async fn link_scripted(app: &TestApp, session: &Session) {
    let (_, page) = connect(app, session).await;
    assert!(
        page.contains(&format!("You're connected as <b>@{}</b>", session.handle)),
        "{page}"
    );
}

/// The app talking to a scripted Spotify, and Sam, who linked it.
pub async fn app_with_scripted_spotify_and(extra: &[(&str, &str)]) -> (TestApp, Shared, Session) {
    let (app, script) = scripted_spotify(extra).await;
    let sam = app.sign_up("sam").await;
    link_scripted(&app, &sam).await;
    (app, script, sam)
}

async fn app_with_scripted_spotify() -> (TestApp, Shared, Session) {
    app_with_scripted_spotify_and(&[]).await
}

/// What reached `path` of the scripted Spotify, in order: the bearer
/// token, the query's client id, or the token form (`basic=<id>` appended
/// when the client authenticated with HTTP Basic).
pub fn calls(script: &Shared, path: &str) -> Vec<String> {
    let s = script.lock().unwrap();
    s.requests
        .iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, d, _)| d.clone())
        .collect()
}

#[tokio::test]
async fn tokens_are_unreadable_in_the_database() {
    let (app, _script, _sam) = app_with_scripted_spotify().await;
    let db = app.db().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT access_token, refresh_token FROM spotify_links",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let access: String = rows[0].try_get("", "access_token").unwrap();
    let refresh: String = rows[0].try_get("", "refresh_token").unwrap();
    assert!(!access.contains("A1") || access.len() > 20, "sealed, not plain");
    assert_ne!(access, "A1");
    assert_ne!(refresh, "R1");
    assert!(access.len() > 30 && refresh.len() > 30, "nonce + ciphertext + tag");
}

#[tokio::test]
async fn tokens_refresh_before_expiry_and_rotated_refresh_tokens_replace_the_old() {
    let (app, script, sam) = app_with_scripted_spotify().await;

    app.clock.advance(Duration::from_secs(3600));
    let first = app
        .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&relog(&app, &sam).await))
        .await;
    assert!(first["data"]["nowPlaying"].is_object(), "{first}");
    app.clock.advance(Duration::from_secs(3600));
    let second = app
        .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&relog(&app, &sam).await))
        .await;
    assert!(second["data"]["nowPlaying"].is_object(), "{second}");

    let token_calls = calls(&script, "/api/token");
    let grants: Vec<&String> = token_calls.iter().filter(|d| d.contains("refresh_token")).collect();
    assert_eq!(grants.len(), 2, "{token_calls:?}");
    assert!(grants[0].contains("\"R1\""), "first refresh uses R1: {grants:?}");
    assert!(grants[1].contains("\"R2\""), "the rotated R2 replaced R1: {grants:?}");
    let played = calls(&script, "/v1/me/player/currently-playing");
    assert_eq!(
        played,
        vec!["A2".to_owned(), "A3".to_owned()],
        "each call used the fresh token"
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let (app, script, sam) = app_with_scripted_spotify().await;
    // Spotify stops accepting A1 before its hour is up.
    script.lock().unwrap().reject_next = 1;

    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access)).await;

    assert!(body["data"]["nowPlaying"].is_object(), "{body}");
    let played = calls(&script, "/v1/me/player/currently-playing");
    assert_eq!(
        played,
        vec!["A1".to_owned(), "A2".to_owned()],
        "rejected, refreshed, retried once"
    );
    let refreshes: Vec<String> = calls(&script, "/api/token")
        .into_iter()
        .filter(|d| d.contains("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
}

#[tokio::test]
async fn invalid_grant_requires_relinking_and_stops_all_calls() {
    let (app, script, sam) = app_with_scripted_spotify().await;
    script.lock().unwrap().refresh_fails = true;

    app.clock.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;
    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;

    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam needs to reconnect Spotify",
        "{body}"
    );
    let status = app.graphql(STATUS, json!({}), Some(&access)).await;
    assert_eq!(status["data"]["me"]["spotify"]["status"], "RELINK_REQUIRED");
    let before = script.lock().unwrap().requests.len();
    app.clock.advance(Duration::from_secs(60));
    app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert_eq!(
        script.lock().unwrap().requests.len(),
        before,
        "no call to Spotify until relinked"
    );

    // Linking again makes the link active.
    script.lock().unwrap().refresh_fails = false;
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&access))
        .await;
    app.browse(body["data"]["connectSpotify"]["url"].as_str().unwrap())
        .await;
    let status = app.graphql(STATUS, json!({}), Some(&access)).await;
    assert_eq!(status["data"]["me"]["spotify"]["status"], "ACTIVE");
}

#[tokio::test]
async fn consent_older_than_six_months_requires_relinking() {
    let (app, script, sam) = app_with_scripted_spotify().await;
    app.clock.advance(Duration::from_secs(183 * 86_400));
    let access = relog(&app, &sam).await;
    let before = script.lock().unwrap().requests.len();

    let status = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;

    assert_eq!(status["data"]["nowPlaying"]["text"], "sam needs to reconnect Spotify");
    assert_eq!(script.lock().unwrap().requests.len(), before);
}

#[tokio::test]
async fn a_429_pauses_every_call_until_retry_after_has_passed() {
    let (app, script, sam) = app_with_scripted_spotify().await;
    script.lock().unwrap().rate_limit_next = 1;

    // Sam's "now playing" meets the 429; a moment later another request
    // (a track lookup: another endpoint, another token) must wait too.
    let now_playing = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access));
    let lookup = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.graphql(
            "query($l: String!) { track(link: $l) { name } }",
            json!({ "l": "spotify:track:4uLU6hMCjMI75M1A2tKUQC" }),
            Some(&sam.access),
        )
        .await
    };
    let (first, second) = tokio::join!(now_playing, lookup);

    assert!(first["data"]["nowPlaying"].is_object(), "{first}");
    assert_eq!(second["data"]["track"]["name"], "Scripted Song", "{second}");
    let s = script.lock().unwrap();
    // From the first call after linking (the one limited) on.
    let api_calls: Vec<_> = s
        .requests
        .iter()
        .filter(|(p, _, _)| p.starts_with("/v1/"))
        .skip_while(|(p, _, _)| p == "/v1/me")
        .collect();
    let limited_at = api_calls[0].2;
    assert!(
        api_calls.len() >= 3,
        "the limited call, its retry and the lookup: {api_calls:?}"
    );
    for (path, _, at) in &api_calls[1..] {
        assert!(
            at.duration_since(limited_at) >= Duration::from_secs(2),
            "{path} reached Spotify {:?} after the 429",
            at.duration_since(limited_at)
        );
    }
}
