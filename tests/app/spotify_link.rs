//! Linking Spotify in each of its three ways, and every failure page.
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::json;

use crate::helpers::spawn_app;

const ME: &str = "{ me { messengerLinked spotify { accountId userId displayName status } } }";

fn link_code(page: &str) -> String {
    let digits: String = page
        .split("class=\"code\">")
        .nth(1)
        .expect("a code on the page")
        .chars()
        .take_while(|c| *c != '<')
        .filter(char::is_ascii_digit)
        .collect();
    assert_eq!(digits.len(), 16, "{page}");
    digits
}

#[tokio::test]
async fn connect_spotify_from_the_app_links_the_signed_in_account() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let body = app
        .graphql(
            "mutation { connectSpotify { url expiresAt } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    let url = body["data"]["connectSpotify"]["url"].as_str().unwrap();
    for part in [
        "response_type=code",
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "scope=user-read-recently-played%20user-read-currently-playing%20user-read-playback-state",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    let (status, page) = app.browse(&format!("{url}&sandbox_account=samspot")).await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You're connected as <b>@sam</b>"), "{page}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    let spotify = &me["data"]["me"]["spotify"];
    assert_eq!(
        (&spotify["userId"], &spotify["displayName"], &spotify["status"]),
        (&json!("samspot"), &json!("Samspot"), &json!("ACTIVE")),
        "{spotify}"
    );
    let account_id = spotify["accountId"].as_str().unwrap();
    assert!(
        account_id.len() == 10 && account_id != "samspot",
        "keyed by the account_id /v1/me gives, not the user id: {spotify}"
    );
}

#[tokio::test]
async fn the_public_link_creates_an_account_and_shows_a_link_code() {
    let app = spawn_app().await;

    let (status, page) = app.browse(&format!("{}/auth/spotify/start", app.address)).await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Welcome to Send Songs"), "{page}");
    assert!(
        page.to_lowercase()
            .contains("send this code to send songs on messenger"),
        "{page}"
    );
    link_code(&page);
}

#[tokio::test]
async fn the_public_link_again_finds_the_same_account() {
    let app = spawn_app().await;
    let start = format!("{}/auth/spotify/start", app.address);
    let first = app.location(&start).await;
    let (_, page) = app.browse(&format!("{first}&sandbox_account=alice")).await;
    assert!(page.contains("Welcome to Send Songs, <b>@alice</b>"), "{page}");
    let first_code = link_code(&page);
    let second = app.location(&start).await;
    let (_, page) = app.browse(&format!("{second}&sandbox_account=alice")).await;

    assert!(page.contains("Welcome back, <b>@alice</b>"), "{page}");
    assert_ne!(link_code(&page), first_code);
    let taken = app
        .graphql("{ user(handle: \"alice2\") { id } }", json!({}), None)
        .await;
    assert!(taken["data"]["user"].is_null(), "no second account");
}

#[tokio::test]
async fn a_personal_link_from_messenger_links_the_sender_to_the_spotify_owner() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;
    let link = api::linking::messenger::personal_link(&app.state, "psid-123");
    assert!(link.contains("/auth/spotify/start?m="), "{link}");

    let spotify = app.location(&link).await;
    let (status, page) = app.browse(&format!("{spotify}&sandbox_account=samspot")).await;

    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You're connected as <b>@sam</b>"), "{page}");
    assert!(page.contains("Messenger"));
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["messengerLinked"], true);
}

#[tokio::test]
async fn a_personal_link_for_a_new_person_creates_their_account() {
    let app = spawn_app().await;
    let link = api::linking::messenger::personal_link(&app.state, "psid-new");
    let spotify = app.location(&link).await;

    let (_, page) = app.browse(&format!("{spotify}&sandbox_account=kim")).await;

    assert!(page.contains("You're connected as <b>@kim</b>"), "{page}");
    let kim = app
        .graphql("{ user(handle: \"kim\") { displayName } }", json!({}), None)
        .await;
    assert_eq!(kim["data"]["user"]["displayName"], "Kim");
}

#[tokio::test]
async fn forged_or_expired_personal_links_are_refused() {
    let app = spawn_app().await;
    let link = api::linking::messenger::personal_link(&app.state, "psid-1");
    let forged = link.replace("psid-1", "psid-2");
    let (status, page) = app.browse(&forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");

    app.clock.advance(Duration::from_secs(16 * 60));
    let (status, _) = app.browse(&link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn denied_consent_changes_nothing() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&sam.access))
        .await;
    let url = body["data"]["connectSpotify"]["url"].as_str().unwrap();

    let (status, page) = app.browse(&format!("{url}&sandbox_deny=1")).await;

    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("You didn't allow access"), "{page}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert!(me["data"]["me"]["spotify"].is_null());
}

#[tokio::test]
async fn a_replayed_or_expired_state_changes_nothing() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let connect = async || {
        let body = app
            .graphql("mutation { connectSpotify { url } }", json!({}), Some(&sam.access))
            .await;
        let url = body["data"]["connectSpotify"]["url"].as_str().unwrap().to_owned();
        app.location(&format!("{url}&sandbox_account=samspot")).await
    };

    let callback = connect().await;
    let (first, _) = app.browse(&callback).await;
    let (replayed, page) = app.browse(&callback).await;
    assert_eq!(first, StatusCode::OK);
    assert_eq!(replayed, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");

    app.graphql("mutation { disconnectSpotify }", json!({}), Some(&sam.access))
        .await;
    let late = connect().await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let (status, _) = app.browse(&late).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert!(
        me["data"]["me"]["spotify"].is_null(),
        "the late callback linked nothing"
    );
}

#[tokio::test]
async fn a_spotify_account_linked_to_someone_else_is_refused() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.link_spotify(&sam, "shared").await;

    let (status, page) = app.link_spotify(&alex, "shared").await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("already connected to another Send Songs account"),
        "{page}"
    );
    let alexs = app.graphql(ME, json!({}), Some(&alex.access)).await;
    assert!(alexs["data"]["me"]["spotify"].is_null());
    let sams = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(sams["data"]["me"]["spotify"]["userId"], "shared");
}

#[tokio::test]
async fn disconnect_forgets_the_tokens() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;

    let body = app
        .graphql("mutation { disconnectSpotify }", json!({}), Some(&sam.access))
        .await;

    assert_eq!(body["data"]["disconnectSpotify"], true);
    let db = app.db().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT user_id FROM spotify_links",
        ))
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn link_codes_from_the_app_are_sixteen_digits() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let body = app
        .graphql(
            "mutation { createLinkCode { code expiresAt } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    let code = body["data"]["createLinkCode"]["code"].as_str().unwrap();
    assert_eq!(code.len(), 16);
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    let anonymous = app
        .graphql("mutation { createLinkCode { code } }", json!({}), None)
        .await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
