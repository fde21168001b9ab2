//! Sign-up, log-in, `me`, `user`, and what bad input does.
use serde_json::json;

use crate::helpers::{PASSWORD, error_code, error_message, spawn_app};

const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken expiresAt user { id handle displayName email } } }";
const LOG_IN: &str =
    "mutation($input: LogInInput!) { logIn(input: $input) { accessToken refreshToken user { handle } } }";
const ME: &str = "{ me { id handle displayName email settings { notifyPush timezone } } }";

fn sign_up_input(email: &str, password: &str, handle: &str, name: &str) -> serde_json::Value {
    json!({ "input": { "email": email, "password": password, "handle": handle, "displayName": name } })
}

#[tokio::test]
async fn sign_up_gives_tokens_and_me_shows_the_account() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let body = app
        .graphql(
            SIGN_UP,
            sign_up_input(" Sam@Example.com ", PASSWORD, "Sam.K", "Sam K"),
            None,
        )
        .await;

    // Assert
    let payload = &body["data"]["signUp"];
    assert_eq!(payload["user"]["handle"], "sam.k", "{body}");
    assert_eq!(payload["user"]["email"], "Sam@Example.com");
    let access = payload["accessToken"].as_str().unwrap();
    let me = app.graphql(ME, json!({}), Some(access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam.k");
    assert_eq!(me["data"]["me"]["displayName"], "Sam K");
    assert_eq!(me["data"]["me"]["settings"]["notifyPush"], true);
    assert_eq!(me["data"]["me"]["settings"]["timezone"], "UTC");
}

#[tokio::test]
async fn me_is_null_when_signed_out_and_an_error_with_a_bad_token() {
    let app = spawn_app().await;
    let anonymous = app.graphql(ME, json!({}), None).await;
    assert!(anonymous["data"]["me"].is_null());
    assert!(anonymous["errors"].is_null(), "{anonymous}");

    let tampered = app.graphql(ME, json!({}), Some("eyJhbGciOiJIUzI1NiJ9.e30.bad")).await;
    assert_eq!(error_code(&tampered), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn log_in_works_and_wrong_email_or_password_look_the_same() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let ok = app
        .graphql(
            LOG_IN,
            json!({ "input": { "email": "SAM@example.com", "password": PASSWORD } }),
            None,
        )
        .await;
    assert_eq!(ok["data"]["logIn"]["user"]["handle"], "sam", "{ok}");

    let wrong_password = app
        .graphql(
            LOG_IN,
            json!({ "input": { "email": sam.email, "password": "not the password" } }),
            None,
        )
        .await;
    let wrong_email = app
        .graphql(
            LOG_IN,
            json!({ "input": { "email": "nobody@example.com", "password": PASSWORD } }),
            None,
        )
        .await;
    assert_eq!(error_code(&wrong_password), Some("UNAUTHENTICATED"));
    assert_eq!(wrong_password["errors"], wrong_email["errors"]);
}

#[tokio::test]
async fn handles_and_emails_are_unique_whatever_their_case() {
    let app = spawn_app().await;
    app.sign_up("sam").await;

    let same_handle = app
        .graphql(
            SIGN_UP,
            sign_up_input("other@example.com", PASSWORD, "SAM", "Other"),
            None,
        )
        .await;
    assert_eq!(error_code(&same_handle), Some("CONFLICT"), "{same_handle}");
    assert!(error_message(&same_handle).contains("@sam"));

    let same_email = app
        .graphql(
            SIGN_UP,
            sign_up_input("SAM@EXAMPLE.COM", PASSWORD, "other", "Other"),
            None,
        )
        .await;
    assert_eq!(error_code(&same_email), Some("CONFLICT"), "{same_email}");
    let other = app.graphql("{ user(handle: \"other\") { id } }", json!({}), None).await;
    assert!(other["data"]["user"].is_null(), "nothing was created: {other}");
}

#[tokio::test]
async fn every_malformed_sign_up_is_bad_user_input_and_creates_nothing() {
    let app = spawn_app().await;
    let cases = [
        ("not-an-email", PASSWORD, "valid_1", "Name", "email"),
        ("a@b", PASSWORD, "valid_2", "Name", "email"),
        ("v3@example.com", "short", "valid_3", "Name", "password"),
        ("v4@example.com", PASSWORD, "no", "Name", "handle"),
        ("v5@example.com", PASSWORD, "has space", "Name", "handle"),
        ("v6@example.com", PASSWORD, "émile", "Name", "handle"),
        ("v7@example.com", PASSWORD, "valid_7", "   ", "displayName"),
    ];
    for (email, password, handle, name, field) in cases {
        let body = app
            .graphql(SIGN_UP, sign_up_input(email, password, handle, name), None)
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{email} {handle}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert!(body["data"].is_null());
    }
    // A missing field is refused by the schema itself.
    let missing = app
        .graphql(
            SIGN_UP,
            json!({ "input": { "email": "x@example.com", "password": PASSWORD } }),
            None,
        )
        .await;
    assert_eq!(error_code(&missing), Some("BAD_USER_INPUT"), "{missing}");

    for handle in ["valid_1", "valid_2", "valid_3", "valid_7", "no"] {
        let found = app
            .graphql(
                "query($h: String!) { user(handle: $h) { id } }",
                json!({ "h": handle }),
                None,
            )
            .await;
        assert!(found["data"]["user"].is_null(), "{handle} must not exist");
    }
}

#[tokio::test]
async fn user_by_handle_shows_only_public_fields() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let body = app
        .graphql("{ user(handle: \"@SAM\") { id handle displayName } }", json!({}), None)
        .await;
    assert_eq!(body["data"]["user"]["id"], sam.user_id.as_str());
    let private = app
        .graphql("{ user(handle: \"sam\") { email } }", json!({}), None)
        .await;
    assert_eq!(
        error_code(&private),
        Some("BAD_USER_INPUT"),
        "PublicUser has no email: {private}"
    );
}

#[tokio::test]
async fn passwords_and_tokens_never_appear_in_responses() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let body = app.graphql(ME, json!({}), Some(&sam.access)).await.to_string();
    assert!(!body.contains(PASSWORD));
    assert!(!body.contains("argon2"));
}
