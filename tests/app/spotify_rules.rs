//! Spotify's 2026 rules, against the scripted Spotify answering the bodies
//! of `tests/fixtures/spotify/`: links keyed by `account_id` (old links
//! move at their next refresh); a person outside a Development Mode app's
//! allowlist told what to do, nothing saved; the six-month consent warned
//! about two weeks ahead; one `invalid_grant` confirmed before relinking.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    fixtures::{Canned, canned, json as fixture_json},
    helpers::{relog, serve},
    messenger::SECRET,
    notifications::{deliveries, of_kind, world, wrote_to_page},
    notify_fakes::{self, Recorded},
    spotify_fake::Shared,
    spotify_tokens::{app_with_scripted_spotify_and, connect, scripted_spotify},
};

const LINK: &str = "{ me { spotify { accountId userId displayName status } } }";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { text } }";

fn me_as(id: &str) -> Canned {
    let mut body = fixture_json("spotify", "me_development_mode_2026.json");
    body["id"] = json!(id);
    canned("spotify", "me_development_mode_2026.json").with_json(&body)
}

fn refreshes(script: &Shared) -> usize {
    let s = script.lock().unwrap();
    s.requests
        .iter()
        .filter(|(path, form, _)| path == "/api/token" && form.contains("refresh_token"))
        .count()
}

#[tokio::test]
async fn links_are_keyed_by_account_id_and_the_user_id_is_for_display() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "me_development_mode_2026.json"));

    let (_, page) = connect(&app, &sam).await;
    assert!(page.contains("You're connected as <b>@sam</b>"), "{page}");

    let body = app.graphql(LINK, json!({}), Some(&sam.access)).await;
    assert_eq!(
        body["data"]["me"]["spotify"],
        json!({ "accountId": "Qx7kP2mZ9w", "userId": "31l77y2al5lnn7mxfrmd4bpfhqke",
                "displayName": "Ana Lima", "status": "ACTIVE" })
    );
    // The public link finds the same account by account_id.
    let start = app.location(&format!("{}/auth/spotify/start", app.address)).await;
    let (_, page) = app.browse(&start).await;
    assert!(page.contains("Welcome back, <b>@sam</b>"), "{page}");
}

#[tokio::test]
async fn a_link_made_before_account_id_moves_to_it_at_its_next_refresh() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "me_before_account_id.json"));
    connect(&app, &sam).await;
    // As the migration leaves links made before: keyed by the user id.
    let db = app.db().await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE spotify_links SET spotify_user_id = NULL",
    ))
    .await
    .unwrap();
    let before = app.graphql(LINK, json!({}), Some(&sam.access)).await;
    assert_eq!(before["data"]["me"]["spotify"]["accountId"], "wizzler");
    script.lock().unwrap().always("/v1/me", me_as("wizzler"));
    let profile_reads = script.lock().unwrap().count("/v1/me");

    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;
    let playing = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert!(playing["data"]["nowPlaying"].is_object(), "{playing}");

    let after = app.graphql(LINK, json!({}), Some(&access)).await;
    assert_eq!(after["data"]["me"]["spotify"]["accountId"], "Qx7kP2mZ9w", "{after}");
    assert_eq!(after["data"]["me"]["spotify"]["userId"], "wizzler");
    assert_eq!(script.lock().unwrap().count("/v1/me"), profile_reads + 1);
    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;
    app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert_eq!(
        script.lock().unwrap().count("/v1/me"),
        profile_reads + 1,
        "moved once, not read at every refresh"
    );
}

#[tokio::test]
async fn a_legacy_link_is_found_by_its_user_id_when_its_owner_consents_again() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "me_before_account_id.json"));
    connect(&app, &sam).await;
    let db = app.db().await;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE spotify_links SET spotify_user_id = NULL",
    ))
    .await
    .unwrap();
    script.lock().unwrap().always("/v1/me", me_as("wizzler"));

    let start = app.location(&format!("{}/auth/spotify/start", app.address)).await;
    let (_, page) = app.browse(&start).await;

    assert!(page.contains("Welcome back, <b>@sam</b>"), "no second account: {page}");
    let after = app.graphql(LINK, json!({}), Some(&sam.access)).await;
    assert_eq!(after["data"]["me"]["spotify"]["accountId"], "Qx7kP2mZ9w");
}

const ALLOWLIST: &[&str] = &[
    "error_403_user_not_registered.json",
    "error_403_user_not_registered_2026.json",
    "error_403_user_not_registered_plain_text.txt",
    "error_403_user_not_approved_plain_text.txt",
];

#[tokio::test]
async fn a_person_outside_the_allowlist_is_told_to_ask_the_host_and_nothing_is_saved() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    for fixture in ALLOWLIST {
        script.lock().unwrap().always("/v1/me", canned("spotify", fixture));

        let (status, page) = connect(&app, &sam).await;

        assert_eq!(status, StatusCode::FORBIDDEN, "{fixture}: {page}");
        assert!(
            page.contains("Ask the host to add your Spotify e-mail under Users and Access"),
            "{fixture}: {page}"
        );
        let link = app.graphql(LINK, json!({}), Some(&sam.access)).await;
        assert!(
            link["data"]["me"]["spotify"].is_null(),
            "{fixture}: nothing saved: {link}"
        );
    }

    // A 403 of another kind is not the allowlist.
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "error_403_forbidden.json"));
    let (status, page) = connect(&app, &sam).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(!page.contains("Users and Access"), "{page}");
}

#[tokio::test]
async fn from_messenger_the_bot_explains_the_allowlist() {
    let fakes = Arc::new(Mutex::new(Recorded::default()));
    let base = serve(notify_fakes::router(fakes.clone())).await;
    let graph = format!("{base}/graph");
    let (app, script) = scripted_spotify(&[
        ("MESSENGER_APP_SECRET", SECRET),
        ("MESSENGER_PAGE_TOKEN", "page-token"),
        ("MESSENGER_GRAPH_URL", &graph),
    ])
    .await;
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "error_403_user_not_registered_2026.json"));

    let personal = api::linking::messenger::personal_link(&app.state, "pnew");
    let consent = app.location(&personal).await;
    let (status, _) = app.browse(&consent).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.run_due_jobs().await;

    let said: Vec<String> = fakes
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|(psid, _)| psid == "pnew")
        .map(|(_, body)| body["message"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("Ask the host to add your Spotify e-mail under Users and Access"),
        "{said:?}"
    );
}

#[tokio::test]
async fn the_consent_is_warned_about_two_weeks_before_it_runs_out_once_with_the_connect_link() {
    let world = world(&["ok-phone"], Some("sam-psid")).await;
    let app = &world.app;
    let day = Duration::from_secs(86_400);
    let warnings = async || {
        of_kind(&deliveries(app, &world.sam).await, "consent_expiring")
            .into_iter()
            .cloned()
            .collect::<Vec<Value>>()
    };

    app.advance(day * 160);
    app.run_due_jobs().await;
    assert!(warnings().await.is_empty(), "not yet: 22 days left");

    app.advance(day * 9);
    wrote_to_page(app, "sam-psid", chrono::TimeDelta::zero()).await;
    app.run_due_jobs().await;
    app.run_due_jobs().await;

    let sent = warnings().await;
    assert_eq!(sent.len(), 2, "push and Messenger: {sent:?}");
    assert!(sent.iter().all(|d| d["status"] == "SENT"), "{sent:?}");
    let connect_link = format!("{}/auth/spotify/start", app.address);
    let (push, message) = {
        let fakes = world.fakes.lock().unwrap();
        (
            fakes.pushes.last().unwrap().1.clone(),
            fakes.messages.last().unwrap().1.clone(),
        )
    };
    assert_eq!(push["message"]["data"]["url"], connect_link.as_str(), "{push}");
    assert!(
        message["message"]["text"].as_str().unwrap().contains(&connect_link),
        "{message}"
    );

    app.advance(day * 2);
    app.run_due_jobs().await;
    assert_eq!(warnings().await.len(), 2, "warned once");
}

#[tokio::test]
async fn one_invalid_grant_is_confirmed_by_a_second_refresh_before_relinking() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    script.lock().unwrap().answer(
        "/api/token:refresh_token",
        canned("spotify", "token_error_invalid_grant_refresh_token_revoked.json"),
        1,
    );
    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;

    let playing = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;

    assert!(playing["errors"].is_null(), "{playing}");
    assert_eq!(
        refreshes(&script),
        2,
        "refused once, confirmed by a second refresh that worked"
    );
    let link = app.graphql(LINK, json!({}), Some(&access)).await;
    assert_eq!(link["data"]["me"]["spotify"]["status"], "ACTIVE");

    script.lock().unwrap().answer(
        "/api/token:refresh_token",
        canned("spotify", "token_error_invalid_grant_invalid_refresh_token.json"),
        2,
    );
    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;
    let playing = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert_eq!(
        playing["data"]["nowPlaying"]["text"], "sam needs to reconnect Spotify",
        "{playing}"
    );
    assert_eq!(refreshes(&script), 4);
    let link = app.graphql(LINK, json!({}), Some(&access)).await;
    assert_eq!(link["data"]["me"]["spotify"]["status"], "RELINK_REQUIRED");
}
