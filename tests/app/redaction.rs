//! Secrets never reach the log: the release binary runs the README's tour
//! at `RUST_LOG=trace` (sign-up, log-in, refresh, Spotify consent and
//! callback, a device, a share and its push, the webhook handshake, the
//! bot's personal link and both kinds of link code), and every secret the
//! tour used or was handed is searched for in everything it wrote.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    binary::{Scratch, Server},
    helpers::{PASSWORD, fresh_database},
    shares::TRACK,
};

const JWT_SECRET: &str = "tour-jwt-secret-tour-jwt-secret-0123456789";
const ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const APP_SECRET: &str = "tour-messenger-app-secret";
const VERIFY_TOKEN: &str = "tour-verify-token-5150";
const DEVICE_TOKEN: &str = "tour-device-token-fcm-registration-77";

/// What follows `key=` in `url`'s query, up to the next `&`.
fn query_value(url: &str, key: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {url}"))
        .to_owned()
}

/// The link code shown on a code page.
fn code_on(page: &str) -> String {
    page.split("class=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("a code page: {page}"))
        .to_owned()
}

/// Where `url` redirects to (not followed).
async fn location(url: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The bot's message to `psid` that contains `needle`, waiting for it.
async fn told(server: &Server, psid: &str, needle: &str) -> String {
    for _ in 0..600 {
        let outbox: Value = reqwest::get(server.url("/sandbox/outbox"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["channel"] == "messenger" && e["to"] == psid)
            .filter_map(|e| e["text"].as_str())
            .find(|text| text.contains(needle));
        if let Some(text) = found {
            return text.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bot did not tell {psid} {needle:?}");
}

async fn say(server: &Server, psid: &str, text: &str) {
    let said = reqwest::Client::new()
        .post(server.url("/sandbox/messenger/send"))
        .json(&json!({ "psid": psid, "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(said.status(), reqwest::StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_tour_at_trace_level_writes_no_secret_to_the_log() {
    let dir = Scratch::new();
    let (database_url, _database) = fresh_database().await;
    let server = Server::start(
        &dir,
        &[
            ("DATABASE_URL", &database_url),
            ("RUST_LOG", "trace"),
            ("JWT_SECRET", JWT_SECRET),
            ("ENCRYPTION_KEY", ENCRYPTION_KEY),
            ("MESSENGER_APP_SECRET", APP_SECRET),
            ("MESSENGER_VERIFY_TOKEN", VERIFY_TOKEN),
            ("JOB_POLL_INTERVAL", "100ms"),
        ],
    )
    .await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", PASSWORD.to_owned()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
        ("MESSENGER_APP_SECRET", APP_SECRET.to_owned()),
        ("MESSENGER_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
        ("device token", DEVICE_TOKEN.to_owned()),
        // The stand-ins' credentials and what they hand out: the page
        // token, Google's access tokens, the service account's key, and the
        // fake Spotify's signed tokens (JSON `{"kind":"access"…` and
        // `{"kind":"refresh"…` in base64).
        ("page token", "sandbox-page-token".to_owned()),
        ("Google access token", "ya29.".to_owned()),
        ("service account key", "PRIVATE KEY".to_owned()),
        ("Spotify access token", "eyJraW5kIjoiYWNjZXNzIi".to_owned()),
        ("Spotify refresh token", "eyJraW5kIjoicmVmcmVzaCI".to_owned()),
    ];
    if let Some(password) = database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(login, _)| login.split_once(':'))
        .map(|(_, password)| password)
    {
        secrets.push(("database password", format!(":{password}@")));
    }

    // Accounts: sign-up, a wrong and a right log-in, a refresh.
    let (sam_access, sam_refresh) = server.sign_up("sam").await;
    let (alex_access, alex_refresh) = server.sign_up("alex").await;
    let wrong = "not the password at all";
    let log_in =
        "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken refreshToken } }";
    let refused = server
        .graphql(log_in, json!({ "e": "sam@example.com", "p": wrong }), None)
        .await;
    assert!(refused["errors"].is_array(), "{refused}");
    let logged_in = server
        .graphql(log_in, json!({ "e": "sam@example.com", "p": PASSWORD }), None)
        .await;
    let refreshed = server
        .graphql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }",
            json!({ "t": sam_refresh }),
            None,
        )
        .await;
    for (name, value) in [
        ("access token", &sam_access),
        ("access token", &alex_access),
        ("refresh token", &sam_refresh),
        ("refresh token", &alex_refresh),
    ] {
        secrets.push((name, value.clone()));
    }
    for (name, body, field) in [
        ("log-in access token", &logged_in, "logIn"),
        ("refreshed access token", &refreshed, "refreshSession"),
    ] {
        for token in ["accessToken", "refreshToken"] {
            let value = body["data"][field][token].as_str().unwrap_or_else(|| panic!("{body}"));
            secrets.push((name, value.to_owned()));
        }
    }
    secrets.push(("wrong password", wrong.to_owned()));

    // Friends, Spotify consent (state and code), a device.
    server
        .graphql(
            "mutation { addFriend(handle: \"alex\") { status } }",
            json!({}),
            Some(&sam_access),
        )
        .await;
    server
        .graphql(
            "mutation { addFriend(handle: \"sam\") { status } }",
            json!({}),
            Some(&alex_access),
        )
        .await;
    for (access, account) in [(&sam_access, "samspot"), (&alex_access, "alexspot")] {
        let connect = server
            .graphql("mutation { connectSpotify { url } }", json!({}), Some(access))
            .await;
        let authorize = connect["data"]["connectSpotify"]["url"].as_str().unwrap().to_owned();
        let callback = location(&format!("{authorize}&sandbox_account={account}")).await;
        secrets.push(("OAuth state", query_value(&authorize, "state")));
        secrets.push(("authorization code", query_value(&callback, "code")));
        let page = reqwest::get(&callback).await.unwrap().text().await.unwrap();
        assert!(page.contains("You're connected"), "{page}");
    }
    let device = server
        .graphql(
            "mutation($t: String!) { registerDevice(input: { token: $t, platform: ANDROID }) { id } }",
            json!({ "t": DEVICE_TOKEN }),
            Some(&sam_access),
        )
        .await;
    assert!(device["data"]["registerDevice"]["id"].is_string(), "{device}");

    // A share to Sam: a push to Sam's phone through the FCM stand-in.
    let shared = server
        .graphql(
            "mutation($t: String!) { shareSong(input: { to: \"sam\", track: $t, note: \"for the drive\" }) { id } }",
            json!({ "t": TRACK }),
            Some(&alex_access),
        )
        .await;
    assert!(shared["data"]["shareSong"]["id"].is_string(), "{shared}");
    let mut pushed = false;
    for _ in 0..600 {
        let outbox: Value = reqwest::get(server.url("/sandbox/outbox"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if outbox.as_array().unwrap().iter().any(|e| e["channel"] == "push") {
            pushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pushed, "the push went out");

    // Messenger: the webhook handshake, the bot's personal link, a code
    // made in the app and a code from the public sign-up page.
    let challenge = reqwest::get(server.url(&format!(
        "/webhooks/messenger?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=tour-challenge"
    )))
    .await
    .unwrap();
    assert_eq!(challenge.text().await.unwrap(), "tour-challenge");
    say(&server, "tour-newcomer", "hello").await;
    let hello = told(&server, "tour-newcomer", "/auth/spotify/start?m=").await;
    let link = hello
        .split_whitespace()
        .find(|word| word.contains("/auth/spotify/start?m="))
        .unwrap_or_else(|| panic!("a personal link: {hello}"));
    secrets.push(("personal link", query_value(link, "m")));
    let page = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert!(page.contains("head back to Messenger"), "{page}");

    let made = server
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&alex_access))
        .await;
    let app_code = made["data"]["createLinkCode"]["code"].as_str().unwrap().to_owned();
    let sign_up_page = reqwest::get(server.url("/auth/spotify/start"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page_code = code_on(&sign_up_page);
    for (psid, code) in [("tour-alex", &app_code), ("tour-other", &page_code)] {
        say(&server, psid, code).await;
        told(&server, psid, "You're linked").await;
        secrets.push(("link code", code.clone()));
        secrets.push(("link code", code.chars().filter(char::is_ascii_digit).collect()));
    }

    let log = server.stop().await;
    assert!(log.contains(r#""level":"TRACE""#), "the log is at trace level");
    assert!(log.contains("/auth/spotify/callback"), "request paths are logged");
    assert!(log.contains("/webhooks/messenger"), "request paths are logged");
    for (name, secret) in &secrets {
        if let Some(at) = log.find(secret.as_str()) {
            let line = log[..at].rfind('\n').map_or(0, |start| start + 1);
            let end = log[at..].find('\n').map_or(log.len(), |end| at + end);
            panic!("the {name} {secret:?} is in the log: {}", &log[line..end]);
        }
    }
}
