//! Refresh rotation, reuse detection, log-out, expiry and the log-in throttle.
use std::time::Duration;

use serde_json::json;

use crate::helpers::{PASSWORD, error_code, error_message, spawn_app};

const REFRESH: &str =
    "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { handle } } }";
const LOG_OUT: &str = "mutation($t: String!) { logOut(refreshToken: $t) }";
const LOG_IN: &str = "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }";
const ME: &str = "{ me { handle } }";

#[tokio::test]
async fn refresh_rotates_the_token() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let body = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;

    let next = &body["data"]["refreshSession"];
    assert_eq!(next["user"]["handle"], "sam", "{body}");
    assert_ne!(next["refreshToken"], sam.refresh.as_str());
    let me = app.graphql(ME, json!({}), next["accessToken"].as_str()).await;
    assert_eq!(me["data"]["me"]["handle"], "sam");
    // The rotated token works once more in turn.
    let again = app.graphql(REFRESH, json!({ "t": next["refreshToken"] }), None).await;
    assert!(again["data"]["refreshSession"].is_object(), "{again}");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_ends_the_whole_session() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let first = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    let new_refresh = first["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_access = first["data"]["refreshSession"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // A thief (or a confused client) replays the spent token.
    let replay = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;

    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"));
    assert!(error_message(&replay).contains("already used"), "{replay}");
    let legit = app.graphql(REFRESH, json!({ "t": new_refresh }), None).await;
    assert_eq!(
        error_code(&legit),
        Some("UNAUTHENTICATED"),
        "the family is revoked: {legit}"
    );
    let me = app.graphql(ME, json!({}), Some(&new_access)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "its access tokens too: {me}");
}

#[tokio::test]
async fn other_sessions_survive_a_revoked_one() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let phone = app
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    let phone_access = phone["data"]["logIn"]["accessToken"].as_str().unwrap();

    app.graphql(LOG_OUT, json!({ "t": sam.refresh }), None).await;

    let me = app.graphql(ME, json!({}), Some(phone_access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam");
}

#[tokio::test]
async fn log_out_ends_the_refresh_and_access_tokens() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let body = app
        .graphql(LOG_OUT, json!({ "t": sam.refresh }), Some(&sam.access))
        .await;

    assert_eq!(body["data"]["logOut"], true, "{body}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"));
    let refresh = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    assert_eq!(error_code(&refresh), Some("UNAUTHENTICATED"));
    let twice = app.graphql(LOG_OUT, json!({ "t": sam.refresh }), None).await;
    assert_eq!(twice["data"]["logOut"], false);
}

#[tokio::test]
async fn nobody_can_end_another_persons_session() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;

    let body = app
        .graphql(LOG_OUT, json!({ "t": sam.refresh }), Some(&alex.access))
        .await;

    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam", "Sam's session is untouched");
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes_and_refresh_renews_them() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    app.clock.advance(Duration::from_secs(16 * 60));

    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"));
    assert!(error_message(&me).contains("expired"), "{me}");
    let renewed = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    let access = renewed["data"]["refreshSession"]["accessToken"].as_str().unwrap();
    assert_eq!(
        app.graphql(ME, json!({}), Some(access)).await["data"]["me"]["handle"],
        "sam"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_after_thirty_days() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.clock.advance(Duration::from_secs(31 * 86_400));
    let body = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn repeated_failed_log_ins_are_slowed_then_refused_then_allowed_again() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for attempt in 0..5 {
        let body = app
            .graphql(LOG_IN, json!({ "e": sam.email, "p": "wrong password" }), None)
            .await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "attempt {attempt}: {body}");
    }

    // Even the right password is refused now, with advice on when to retry.
    let refused = app
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    assert!(refused["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    // Another account from another address is unaffected by Sam's count.
    let alex = app.sign_up("alex").await;
    let other = app
        .graphql(LOG_IN, json!({ "e": alex.email, "p": PASSWORD }), None)
        .await;
    assert!(other["data"]["logIn"].is_object(), "{other}");

    app.clock.advance(Duration::from_secs(15 * 60));
    let later = app
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    assert!(later["data"]["logIn"].is_object(), "{later}");
}

#[tokio::test]
async fn many_failures_from_one_address_are_refused_across_emails() {
    let app = spawn_app().await;
    for n in 0..20 {
        let body = app
            .graphql(
                LOG_IN,
                json!({ "e": format!("guess{n}@example.com"), "p": "wrong password" }),
                None,
            )
            .await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    let refused = app
        .graphql(LOG_IN, json!({ "e": "fresh@example.com", "p": "whatever!" }), None)
        .await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
}
