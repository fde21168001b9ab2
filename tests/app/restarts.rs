//! What outlives a restart: a sandbox server keeps the secrets it made up
//! (sessions and Spotify links keep working); a server whose
//! `ENCRYPTION_KEY` changed asks for a relink instead of failing; and a
//! bot command that fails never holds up the sender's next messages.
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    binary::{Scratch, Server},
    helpers::{error_code, fresh_database, spawn_app, spawn_replica},
    messenger::{self, page_body, sign, text_event},
    shares::{TRACK, TRACK_ID, pair},
};

const ME: &str = "{ me { handle spotify { userId status } } }";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text track { id } } }";

#[tokio::test]
async fn a_sandbox_server_restarted_on_its_database_keeps_sessions_and_spotify_links() {
    let dir = Scratch::new();
    let (database_url, _database) = fresh_database().await;
    let vars = [("DATABASE_URL", database_url.as_str())];
    let first = Server::start(&dir, &vars).await;
    let (access, refresh) = first.sign_up("sam").await;
    let connect = first
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&access))
        .await;
    let url = connect["data"]["connectSpotify"]["url"].as_str().unwrap();
    let page = reqwest::get(format!("{url}&sandbox_account=samspot")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("You're connected as <b>@sam</b>"));
    first.stop().await;

    let second = Server::start(&dir, &vars).await;

    let me = second.graphql(ME, json!({}), Some(&access)).await;
    assert_eq!(
        me["data"]["me"],
        json!({ "handle": "sam", "spotify": { "userId": "samspot", "status": "ACTIVE" } }),
        "the access token from before the restart still works: {me}"
    );
    let played = reqwest::Client::new()
        .post(second.url("/sandbox/spotify/play"))
        .json(&json!({ "account": "samspot", "track": TRACK_ID }))
        .send()
        .await
        .unwrap();
    assert_eq!(played.status(), StatusCode::CREATED);
    let playing = second.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert_eq!(
        playing["data"]["nowPlaying"]["track"]["id"], TRACK_ID,
        "the Spotify link made before the restart still reads: {playing}"
    );
    let me = second.graphql(ME, json!({}), Some(&access)).await;
    assert_eq!(me["data"]["me"]["spotify"]["status"], "ACTIVE");
    let refreshed = second
        .graphql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({ "t": refresh }),
            None,
        )
        .await;
    assert!(refreshed["data"]["refreshSession"].is_object(), "{refreshed}");
    second.stop().await;
}

#[tokio::test]
async fn stored_tokens_that_no_longer_open_ask_for_a_relink_instead_of_failing() {
    let mut first = spawn_app().await;
    let (sam, alex) = pair(&first).await;
    first.link_spotify(&sam, "samspot").await;
    first
        .graphql(
            "mutation { registerDevice(input: { token: \"sams-phone\", platform: ANDROID }) { id } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    crate::shares::share(&first, &alex, "sam", TRACK).await;
    first.stop().await.unwrap();

    // The same database, another ENCRYPTION_KEY: Sam's sealed tokens no longer open.
    let second = spawn_replica(
        &first,
        &[("ENCRYPTION_KEY", "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")],
    )
    .await;
    let playing = second
        .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access))
        .await;
    assert_eq!(error_code(&playing), None, "not an internal error: {playing}");
    assert_eq!(playing["data"]["nowPlaying"]["text"], "sam needs to reconnect Spotify");
    let me = second.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["spotify"]["status"], "RELINK_REQUIRED", "{me}");
    let notices = second
        .graphql(
            "{ deliveries { edges { node { kind } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    let relink_notices = notices["data"]["deliveries"]["edges"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|edge| edge["node"]["kind"] == "relink_required")
        .count();
    assert_eq!(relink_notices, 1, "Sam is told to reconnect, once: {notices}");

    // The share's check waits for the relink instead of failing.
    second.advance(std::time::Duration::from_secs(600));
    second.run_due_jobs().await;

    second.link_spotify(&sam, "samspot").await;
    let me = second.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(
        me["data"]["me"]["spotify"]["status"], "ACTIVE",
        "linking again mends it: {me}"
    );
}

#[tokio::test]
async fn a_bot_command_that_fails_does_not_hold_up_the_next_message() {
    let bot = messenger::bot().await;
    let (sam, _alex) = pair(&bot.app).await;
    bot.link("psam", &sam).await;
    // Break what a bare link needs (the bot's open questions), and only that.
    let db = bot.app.db().await;
    sea_orm::ConnectionTrait::execute_unprepared(&db, "DROP TABLE bot_questions")
        .await
        .unwrap();

    for (n, text) in [TRACK, "help"].iter().enumerate() {
        let body = page_body(vec![vec![text_event(
            "psam",
            &format!("m_fail_{n}"),
            text,
            5_000 + n as i64,
        )]]);
        assert_eq!(bot.post(&body, Some(&sign(&body))).await.status(), StatusCode::OK);
    }
    let replies = bot.handled("psam").await;

    assert_eq!(replies.len(), 2, "both answered at once: {replies:?}");
    assert!(replies[0].starts_with("Sorry, something went wrong"), "{replies:?}");
    assert!(replies[1].starts_with("Here's what I can do"), "{replies:?}");
}
