//! The sandbox's own controls take only what they can act on: every bad
//! field is a 400 that names it and says what it takes, and changes
//! nothing; faults queue visibly and can be cleared; a 429's pause says
//! how long it is and can be lifted; a play needs an account that
//! connected.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, error_code, relog, spawn_app_with},
    shares::{TRACK, pair},
};

/// A request to a sandbox control; answers its status and JSON body.
async fn control(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}/sandbox/{path}", app.address));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Bad bodies, the field each must name, and what the error must say
/// the field takes.
fn refused() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let future = (chrono::Utc::now() + chrono::TimeDelta::days(400)).to_rfc3339();
    vec![
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "times": 0 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "times": -1 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "times": "2" }),
            "times",
            "from 1 to 1000",
        ),
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "times": 1e11 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "times": 2.5 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "google/faults",
            json!({ "fault": "meteor" }),
            "fault",
            "invalid_grant, invalid_client",
        ),
        ("google/faults", json!({ "fault": 5 }), "fault", "string"),
        (
            "google/faults",
            json!({ "fault": "invalid_grant", "tiems": 2 }),
            "tiems",
            "times",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": "soon" }),
            "retryAfter",
            "172800",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": -1 }),
            "retryAfter",
            "172800",
        ),
        (
            "spotify/faults",
            json!({ "fault": "quota_exceeded", "retryAfter": 1e9 }),
            "retryAfter",
            "172800",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": true }),
            "retryAfter",
            "HTTP date",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "times": "2" }),
            "times",
            "from 1 to 1000",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "times": 1e11 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "times": 0 }),
            "times",
            "from 1 to 1000",
        ),
        (
            "spotify/faults",
            json!({ "fault": "invalid_client", "retryAfter": 5 }),
            "retryAfter",
            "rate_limit or quota_exceeded",
        ),
        (
            "spotify/faults",
            json!({ "fault": "meteor" }),
            "fault",
            "rate_limit, quota_exceeded",
        ),
        ("spotify/faults", json!({ "fault": ["rate_limit"] }), "fault", "string"),
        (
            "spotify/faults",
            json!({}),
            "fault",
            "required: one of rate_limit, quota_exceeded",
        ),
        ("google/faults", json!({}), "fault", "invalid_grant, invalid_client"),
        ("google/faults", json!({ "times": 2 }), "fault", "required"),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": "2.5e3" }),
            "retryAfter",
            "digits only",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": "2.5" }),
            "retryAfter",
            "whole seconds",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": 2.5 }),
            "retryAfter",
            "whole seconds",
        ),
        (
            "spotify/faults",
            json!({ "fault": "rate_limit", "retryAfter": "+5" }),
            "retryAfter",
            "HTTP date",
        ),
        ("spotify/play", json!({}), "account", "required"),
        ("spotify/play", json!({ "track": TRACK }), "account", "required"),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "playedAt": "yesterday" }),
            "playedAt",
            "RFC 3339",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "playedAt": "2026-11-30T18:05:00Z", "progressMs": 5 }),
            "playedAt",
            "or progressMs",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "progressMs": -1 }),
            "progressMs",
            "from 0 to 86400000",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "progressMs": "5" }),
            "progressMs",
            "from 0 to 86400000",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "progressMs": 1e15 }),
            "progressMs",
            "from 0 to 86400000",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "played_at": future }),
            "played_at",
            "not in the future",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "played_at": "yesterday" }),
            "played_at",
            "RFC 3339",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "track": TRACK, "kind": "ad" }),
            "kind",
            "not both",
        ),
        (
            "spotify/play",
            json!({ "account": "a", "kind": "song" }),
            "kind",
            "episode, ad, unknown or missing",
        ),
        (
            "spotify/play",
            json!({ "account": 5, "track": TRACK }),
            "account",
            "string",
        ),
        (
            "spotify/play",
            json!({ "acount": "a", "track": TRACK }),
            "acount",
            "account",
        ),
        (
            "spotify/play",
            json!({ "account": " ", "track": TRACK }),
            "account",
            "must not be empty",
        ),
        (
            "messenger/send",
            json!({ "psid": "", "text": "hi" }),
            "psid",
            "1 to 64 characters",
        ),
        (
            "messenger/send",
            json!({ "psid": "a b", "text": "hi" }),
            "psid",
            "without spaces",
        ),
        ("messenger/send", json!({ "psid": "demo", "text": 5 }), "text", "string"),
        (
            "messenger/send",
            json!({ "psid": "demo", "link": "not a link" }),
            "link",
            "a web address",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "ref": "bad ref!" }),
            "ref",
            "letters, digits",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "postback": "" }),
            "postback",
            "1 to 1000 characters",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "quickReply": "" }),
            "quickReply",
            "1 to 1000 characters",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "reaction": "", "mid": "m_1" }),
            "reaction",
            "one emoji",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "events": "message_text" }),
            "events",
            "sequence",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "events": ["no_such_shape"] }),
            "events",
            "the shapes are",
        ),
        ("messenger/send", json!({ "text": "hi" }), "psid", "required"),
        (
            "messenger/send",
            json!({ "psid": "demo", "reaction": "❤️" }),
            "mid",
            "required with a reaction",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "text": "hi", "action": "react" }),
            "action",
            "go with a reaction",
        ),
        (
            "messenger/send",
            json!({ "psid": "demo", "text": "hi", "ref": "abc" }),
            "ref",
            "goes alone",
        ),
    ]
}

/// Bodies written out (a key twice, something else than an object), the
/// field each must name (none: the body as a whole), and what the error
/// must say.
fn refused_as_written() -> Vec<(&'static str, String, Option<&'static str>, &'static str)> {
    vec![
        (
            "spotify/faults",
            r#"{"fault":"rate_limit","fault":"invalid_client"}"#.to_owned(),
            Some("fault"),
            "given twice",
        ),
        (
            "google/faults",
            r#"{"fault":"invalid_grant","times":2,"times":3}"#.to_owned(),
            Some("times"),
            "given twice",
        ),
        (
            "spotify/play",
            format!(
                r#"{{"account":"a","track":"{TRACK}","playedAt":"2026-11-30T18:05:00Z","played_at":"2026-11-30T18:05:00Z"}}"#
            ),
            Some("played_at"),
            "given twice (as `playedAt` and `played_at`)",
        ),
        (
            "messenger/send",
            r#"{"psid":"demo","text":"hi","text":"ho"}"#.to_owned(),
            Some("text"),
            "given twice",
        ),
        (
            "spotify/faults",
            r#"["not_on_allowlist",2]"#.to_owned(),
            None,
            "a JSON object",
        ),
        (
            "google/faults",
            r#"["invalid_grant",2]"#.to_owned(),
            None,
            "a JSON object",
        ),
        ("spotify/faults", "null".to_owned(), None, "a JSON object"),
        ("spotify/play", r#""a""#.to_owned(), None, "a JSON object"),
        ("messenger/send", "[]".to_owned(), None, "a JSON object"),
    ]
}

#[tokio::test]
async fn every_bad_control_field_is_refused_naming_it_and_what_it_takes_and_changes_nothing() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;

    for (path, body, field, takes) in refused() {
        let (status, answer) = control(&app, Method::POST, path, Some(body.clone())).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} {body}: {answer}"));
        assert!(error.contains(field), "{path} {body}: {error} names {field}");
        assert!(error.contains(takes), "{path} {body}: {error} says {takes}");
        assert_eq!(answer["field"], field, "{path} {body}: {answer}");
    }
    for (path, body, field, takes) in refused_as_written() {
        let response = app
            .client
            .post(format!("{}/sandbox/{path}", app.address))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        let answer: Value = response.json().await.unwrap();
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(takes), "{path} {body}: {answer} says {takes}");
        assert!(!error.contains("struct"), "{path} {body}: no type names: {answer}");
        match field {
            Some(field) => assert_eq!(answer["field"], field, "{path} {body}: {answer}"),
            None => assert!(answer.get("field").is_none(), "{path} {body}: {answer}"),
        }
    }
    // A wrong field's name is also given on its own.
    let (_, answer) = control(
        &app,
        Method::POST,
        "google/faults",
        Some(json!({ "fault": "invalid_grant", "times": "2" })),
    )
    .await;
    assert_eq!(answer["field"], "times", "{answer}");
    let (status, answer) = control(&app, Method::GET, "outbox?psid=demo&pisd=x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("pisd"), "{answer}");

    app.run_due_jobs().await;
    let (_, spotify) = control(&app, Method::GET, "spotify/faults", None).await;
    assert_eq!(spotify["queued"], json!([]), "nothing queued: {spotify}");
    let (_, google) = control(&app, Method::GET, "google/faults", None).await;
    assert_eq!(google["queued"], json!([]), "nothing queued: {google}");
    let (_, outbox) = control(&app, Method::GET, "outbox", None).await;
    assert_eq!(outbox, json!([]), "nothing sent");
}

#[tokio::test]
async fn faults_queue_up_visibly_and_can_be_cleared() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;

    let (status, first) = control(
        &app,
        Method::POST,
        "google/faults",
        Some(json!({ "fault": "invalid_grant", "times": 2 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (_, second) = control(
        &app,
        Method::POST,
        "google/faults",
        Some(json!({ "fault": "bad_gateway" })),
    )
    .await;
    let queue = json!([{ "fault": "invalid_grant", "times": 2 }, { "fault": "bad_gateway", "times": 1 }]);
    assert_eq!(second["queued"], queue, "{second}");
    let (_, listed) = control(&app, Method::GET, "google/faults", None).await;
    assert_eq!(listed["queued"], queue);
    let (status, cleared) = control(&app, Method::DELETE, "google/faults", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["cleared"], queue);
    let (_, listed) = control(&app, Method::GET, "google/faults", None).await;
    assert_eq!(listed["queued"], json!([]));

    control(
        &app,
        Method::POST,
        "spotify/faults",
        Some(json!({ "fault": "rate_limit", "retryAfter": "3", "times": 3 })),
    )
    .await;
    let (_, answer) = control(
        &app,
        Method::POST,
        "spotify/faults",
        Some(json!({ "fault": "accounts_down" })),
    )
    .await;
    let queue = json!([
        { "fault": "rate_limit", "times": 3, "retryAfter": "3" },
        { "fault": "accounts_down", "times": 1 }
    ]);
    assert_eq!(answer["queued"], queue, "{answer}");
    let (_, cleared) = control(&app, Method::DELETE, "spotify/faults", None).await;
    assert_eq!(cleared["cleared"], queue);
    let (_, listed) = control(&app, Method::GET, "spotify/faults", None).await;
    assert_eq!(listed, json!({ "queued": [], "pause": null }));
}

#[tokio::test]
async fn a_quota_pause_says_how_long_it_is_and_deleting_the_faults_lifts_it() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alex-sandbox").await;
    let now_playing = async || {
        app.advance(Duration::from_secs(16));
        let access = relog(&app, &sam).await;
        app.graphql(
            "{ nowPlaying(handle: \"alex\") { isPlaying } }",
            json!({}),
            Some(&access),
        )
        .await
    };

    let (status, fault) = control(
        &app,
        Method::POST,
        "spotify/faults",
        Some(json!({ "fault": "quota_exceeded" })),
    )
    .await;

    assert_eq!(status, StatusCode::CREATED, "{fault}");
    assert_eq!(fault["retryAfter"], "48925", "{fault}");
    assert_eq!(fault["pause"]["seconds"], 48925, "{fault}");
    let text = fault["pause"]["text"].as_str().unwrap();
    assert!(text.contains("48925 s (about 13 h)"), "{text}");
    assert!(text.contains("DELETE /sandbox/spotify/faults"), "{text}");
    let limited = now_playing().await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let (_, listed) = control(&app, Method::GET, "spotify/faults", None).await;
    assert_eq!(listed["pause"]["reason"], "QUOTA_EXCEEDED", "{listed}");
    assert!(listed["pause"]["seconds"].as_i64().unwrap() > 48_000, "{listed}");

    let (status, cleared) = control(&app, Method::DELETE, "spotify/faults", None).await;

    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["pausesLifted"], 1, "{cleared}");
    let answered = now_playing().await;
    assert_eq!(answered["data"]["nowPlaying"]["isPlaying"], false, "{answered}");
    let (_, listed) = control(&app, Method::GET, "spotify/faults", None).await;
    assert_eq!(listed["pause"], Value::Null, "{listed}");
}

#[tokio::test]
async fn a_play_for_an_account_that_never_connected_is_a_404_that_says_how_to_connect_one() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let alex = app.sign_up("alex").await;

    let (status, answer) = control(
        &app,
        Method::POST,
        "spotify/play",
        Some(json!({ "account": "alex-sandbox", "track": TRACK })),
    )
    .await;

    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("`alex-sandbox`"), "{error}");
    assert!(error.contains("connectSpotify") && error.contains("connect"), "{error}");
    app.link_spotify(&alex, "alex-sandbox").await;
    let (status, answer) = control(
        &app,
        Method::POST,
        "spotify/play",
        Some(json!({ "account": "alex-sandbox", "track": TRACK })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}
