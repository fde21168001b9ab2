//! The sandbox as a Messenger and Spotify stand-in: every kind of event a
//! person sends reaches the webhook as Meta shapes it, one conversation
//! reads oldest first, the sandbox's own routes answer errors in one JSON
//! shape, and connecting Spotify again keeps the same sandbox account.
use reqwest::StatusCode;
use sea_orm::{EntityTrait as _, QueryOrder as _};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};
use entity::messenger_inbox;

/// An inbox row as compared here: kind, text, payload, the mid it points at.
type Row = (String, Option<String>, Option<String>, Option<String>);

/// Posts to `/sandbox/messenger/send`; answers the status and body, after
/// the jobs it started ran.
async fn send(app: &TestApp, what: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/sandbox/messenger/send", app.address))
        .json(&what)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    app.run_due_jobs().await;
    (status, body)
}

/// `GET /sandbox/outbox?psid=…`.
async fn conversation(app: &TestApp, psid: &str) -> Vec<Value> {
    let outbox: Value = app
        .get(&format!("/sandbox/outbox?psid={psid}"))
        .await
        .json()
        .await
        .unwrap();
    outbox.as_array().unwrap().clone()
}

fn texts(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_thing_a_messenger_user_does_reaches_the_bot_and_the_conversation_reads_in_order() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;

    // Get Started, then the link code from the Spotify page as an m.me ref.
    let (status, body) = send(&app, json!({ "psid": "demo", "postback": "GET_STARTED" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["mid"].as_str().unwrap().starts_with("m_"), "{body}");
    let code = app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await;
    let code = code["data"]["createLinkCode"]["code"].as_str().unwrap();
    send(&app, json!({ "psid": "demo", "ref": code })).await;
    // A bare link, and a tap on the quick reply the question offers.
    send(&app, json!({ "psid": "demo", "text": crate::shares::TRACK })).await;
    let (status, _) = send(&app, json!({ "psid": "demo", "quickReply": "SEND:alex" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let talk = conversation(&app, "demo").await;
    let said = texts(&talk);
    // Oldest first: the welcome, being linked (and how to connect
    // Spotify), the question, the share.
    let at = |start: &str| {
        said.iter()
            .position(|t| t.starts_with(start))
            .unwrap_or_else(|| panic!("{start}: {said:?}"))
    };
    let (welcome, linked, question) = (
        at("Hi! I'm Send Songs"),
        at("You're linked as @sam"),
        at("Who should get “"),
    );
    assert!(welcome < linked && linked < question, "{said:?}");
    assert_eq!(question, said.len() - 2, "{said:?}");
    let last = said.last().unwrap();
    assert!(last.starts_with("Sent “") && last.contains("to @alex."), "{said:?}");
    let sent_mid = talk.last().unwrap()["mid"].as_str().unwrap().to_owned();
    assert!(sent_mid.starts_with("m_"), "{talk:?}");
    assert!(
        talk.iter()
            .all(|m| m["mid"].as_str().is_some_and(|mid| mid.starts_with("m_"))),
        "{talk:?}"
    );
    // The whole outbox keeps newest first.
    let whole: Value = app.get("/sandbox/outbox").await.json().await.unwrap();
    assert_eq!(whole[0]["mid"], sent_mid, "{whole}");

    // A reaction to the bot's message and a reply to it reach the webhook
    // as Meta sends them (message_reactions; message.reply_to.mid).
    let (status, body) = send(&app, json!({ "psid": "demo", "reaction": "❤️", "mid": sent_mid })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    send(
        &app,
        json!({ "psid": "demo", "reaction": "❤️", "mid": sent_mid, "action": "unreact" }),
    )
    .await;
    let (status, body) = send(&app, json!({ "psid": "demo", "text": "thanks!", "replyTo": sent_mid })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let db = app.db().await;
    let stored: Vec<Row> = messenger_inbox::Entity::find()
        .order_by_asc(messenger_inbox::Column::SentAtMs)
        .order_by_asc(messenger_inbox::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.target_mid.is_some())
        .map(|row| {
            use sea_orm::ActiveEnum as _;
            (row.kind.to_value(), row.text, row.payload, row.target_mid)
        })
        .collect();
    let target = Some(sent_mid.clone());
    assert_eq!(
        stored,
        vec![
            (
                "reaction".into(),
                Some("❤\u{fe0f}".into()),
                Some("react".into()),
                target.clone()
            ),
            (
                "reaction".into(),
                Some("❤\u{fe0f}".into()),
                Some("unreact".into()),
                target.clone()
            ),
            ("reply".into(), Some("thanks!".into()), None, target),
        ]
    );

    // A message the bot never sent to this person cannot be reacted to.
    for what in [
        json!({ "psid": "demo", "reaction": "👍", "mid": "m_nothing" }),
        json!({ "psid": "someone-else", "reaction": "👍", "mid": sent_mid }),
        json!({ "psid": "demo", "text": "hm", "replyTo": "m_nothing" }),
    ] {
        let (status, body) = send(&app, what.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("no message with mid"),
            "{body}"
        );
    }
}

/// The one shape: a JSON object with a single `error` string.
async fn assert_error(response: reqwest::Response, status: StatusCode, says: &str) {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 1, "{body}");
    let message = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(message.contains(says), "{message} should say {says}");
}

#[tokio::test]
async fn every_sandbox_route_answers_errors_in_one_json_shape() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let url = |path: &str| format!("{}/sandbox{path}", app.address);
    let post = |path: &str, body: &str| {
        app.client
            .post(url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    for path in ["/messenger/send", "/spotify/play", "/spotify/faults", "/google/faults"] {
        assert_error(
            post(path, "{not json").send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "",
        )
        .await;
        let untyped = app.client.post(url(path)).body("{}").send().await.unwrap();
        assert_error(untyped, StatusCode::BAD_REQUEST, "Content-Type").await;
    }
    assert_error(
        post("/messenger/send", r#"{"text": "hi"}"#).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "psid",
    )
    .await;
    assert_error(
        post("/messenger/send", r#"{"psid": "demo"}"#).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "give a text",
    )
    .await;
    assert_error(
        post("/messenger/send", r#"{"psid": "demo", "txet": "hi"}"#)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "txet",
    )
    .await;
    assert_error(
        post("/spotify/play", r#"{"account": "a"}"#).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "track",
    )
    .await;
    assert_error(
        post("/spotify/faults", r#"{"fault": "meteor"}"#).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "unknown fault",
    )
    .await;
    assert_error(
        app.client.get(url("/messenger/send")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "GET",
    )
    .await;
    assert_error(
        app.client.get(url("/nothing/here")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "/sandbox/nothing/here",
    )
    .await;
}

/// Sam connects Spotify in the sandbox with no account named: answers
/// his `(accountId, userId)`.
async fn connect(app: &TestApp, access: &str) -> (String, String) {
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(access))
        .await;
    let (status, page) = app
        .browse(body["data"]["connectSpotify"]["url"].as_str().unwrap())
        .await;
    assert!(status.is_success() && page.contains("connected"), "{page}");
    let me = app
        .graphql("{ me { spotify { accountId userId } } }", json!({}), Some(access))
        .await;
    let spotify = &me["data"]["me"]["spotify"];
    (
        spotify["accountId"]
            .as_str()
            .unwrap_or_else(|| panic!("{me}"))
            .to_owned(),
        spotify["userId"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn connecting_spotify_again_in_the_sandbox_keeps_the_same_account() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let sam = app.sign_up("sam").await;
    let kim = app.sign_up("kim").await;

    let first = connect(&app, &sam.access).await;
    assert!(first.1.starts_with("sandbox-"), "{first:?}");
    let played = app
        .client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": first.0, "track": crate::shares::TRACK }))
        .send()
        .await
        .unwrap();
    assert_eq!(played.status(), StatusCode::CREATED);

    // Again while linked, and again after disconnecting: the same account.
    assert_eq!(connect(&app, &sam.access).await, first);
    let gone = app
        .graphql("mutation { disconnectSpotify }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(gone["data"]["disconnectSpotify"], true, "{gone}");
    assert_eq!(connect(&app, &sam.access).await, first);
    // Its plays are still there.
    let now = app
        .graphql(
            "{ nowPlaying(handle: \"sam\") { isPlaying track { id } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(now["data"]["nowPlaying"]["isPlaying"], true, "{now}");

    // Another person gets another account.
    assert_ne!(connect(&app, &kim.access).await.0, first.0);
}
