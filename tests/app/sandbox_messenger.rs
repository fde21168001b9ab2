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
pub async fn send(app: &TestApp, what: Value) -> (StatusCode, Value) {
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
pub async fn conversation(app: &TestApp, psid: &str) -> Vec<Value> {
    let outbox: Value = app
        .get(&format!("/sandbox/outbox?psid={psid}"))
        .await
        .json()
        .await
        .unwrap();
    outbox.as_array().unwrap().clone()
}

pub fn texts(entries: &[Value]) -> Vec<String> {
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
pub async fn assert_error(response: reqwest::Response, status: StatusCode, says: &str) {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    let object = body.as_object().unwrap();
    assert!(
        object.keys().all(|key| key == "error" || key == "field"),
        "the error, and the field at fault: {body}"
    );
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
        "fault: one of rate_limit, quota_exceeded",
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

/// Documented shapes the bot has no use for, with the label the webhook
/// counts each under (`messenger_webhook_ignored_total{event}`).
const IGNORED: &[(&str, &str)] = &[
    ("optin_checkbox_plugin_user_ref_no_sender", "optin"),
    ("optin_send_to_messenger_ref", "optin"),
    ("optin_notification_messages", "optin"),
    ("optin_notification_messages_stopped", "optin"),
    ("message_reads", "read"),
    ("message_deliveries", "delivery"),
    ("message_deliveries_watermark_only", "delivery"),
    ("message_echo_text", "echo"),
    ("message_echo_page_inbox", "echo"),
    ("message_echo_fallback_top_level_url", "echo"),
    ("message_echo_quick_replies", "echo"),
    ("message_edits", "message_edit"),
    ("standby_message", "standby"),
    ("standby_read", "standby"),
    ("standby_postback_without_payload", "standby"),
    ("standby_echo_template_attachment_id_number", "standby"),
    ("handover_pass_thread_control", "pass_thread_control"),
    ("handover_pass_thread_control_from_idle", "pass_thread_control"),
    ("handover_take_thread_control", "take_thread_control"),
    ("handover_request_thread_control", "request_thread_control"),
    ("handover_app_roles_no_sender", "app_roles"),
    ("account_linking_linked", "account_linking"),
    ("account_linking_unlinked", "account_linking"),
    ("policy_enforcement_block", "policy_enforcement"),
    ("policy_enforcement_warning", "policy_enforcement"),
    ("policy_enforcement_unblock", "policy_enforcement"),
    ("response_feedback", "response_feedback"),
    ("unknown_future_event_type", "unknown"),
    ("unknown_changes_field", "change"),
    ("referral_chat_plugin_guest_user_ref", "no_sender_id"),
    ("postback_changes_field_value_user_ref", "no_sender_id"),
];

/// Sam signs up and links `psid` with a code, through an m.me link.
pub async fn linked_as_sam(app: &TestApp, psid: &str) {
    let sam = app.sign_up("sam").await;
    let code = app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await;
    let code = code["data"]["createLinkCode"]["code"].as_str().unwrap();
    let (status, _) = send(app, json!({ "psid": psid, "ref": code })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let said = texts(&conversation(app, psid).await);
    assert!(said.iter().any(|t| t.starts_with("You're linked as @sam")), "{said:?}");
}

/// How many events of `label` the webhook ignored so far (every app of
/// the test process counts into the same metrics).
async fn ignored(app: &TestApp, label: &str) -> f64 {
    app.metric(&format!("messenger_webhook_ignored_total{{event=\"{label}\"}}"))
        .await
}

#[tokio::test]
async fn the_sandbox_sends_every_documented_event_shape_in_one_batch_and_the_bot_ignores_what_it_has_no_use_for() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    linked_as_sam(&app, "shapes").await;
    let before = conversation(&app, "shapes").await.len();
    let mut labels: Vec<&str> = IGNORED.iter().map(|(_, label)| *label).collect();
    labels.dedup();
    let mut counted = Vec::new();
    for label in &labels {
        counted.push(ignored(&app, label).await);
    }

    // Every shape of no use, and a "help", in one signed POST.
    let names: Vec<&str> = IGNORED.iter().map(|(name, _)| *name).collect();
    let (status, body) = send(&app, json!({ "psid": "shapes", "events": names, "text": "help" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["events"], names.len(), "{body}");
    assert!(body["mid"].is_string(), "{body}");

    let said = texts(&conversation(&app, "shapes").await[before..]);
    assert_eq!(said.len(), 1, "only the help is answered: {said:?}");
    assert!(said[0].starts_with("Here's what I can do"), "{said:?}");
    for (label, was) in labels.iter().zip(counted) {
        let expected = IGNORED.iter().filter(|(_, l)| l == label).count() as f64;
        let now = ignored(&app, label).await;
        assert!(
            now - was >= expected,
            "{label}: {was} then {now}, {expected} more expected"
        );
    }
}

#[tokio::test]
async fn a_batch_as_meta_sends_it_answers_every_person_in_it() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    linked_as_sam(&app, "demo").await;
    let before = conversation(&app, "demo").await.len();

    // Meta's mixed batch: an opt-in without a sender beside a "help", a
    // read, a delivery, an echo, a policy warning, standby, a reaction, an
    // unknown event and a shared Spotify link behind Facebook's redirector.
    let (status, body) = send(&app, json!({ "psid": "demo", "events": ["batch_mixed_events"] })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body.get("mid").is_none(), "nothing but the shapes was sent: {body}");
    let said = texts(&conversation(&app, "demo").await[before..]);
    let no_friends = "You haven't added any friends yet: send `add <handle>` first, then the link again.";
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].starts_with("Here's what I can do"), "{said:?}");
    assert_eq!(said[1], no_friends, "{said:?}");

    // Every way the Spotify app's share arrives reads as the link pasted.
    let shares = [
        "message_spotify_share_fallback_with_text",
        "message_spotify_share_fallback_without_text",
        "message_spotify_share_fallback_unwrapped_url",
        "message_spotify_share_fallback_top_level_url_payload_null",
        "message_spotify_share_share_type",
    ];
    let before = conversation(&app, "demo").await.len();
    let (status, body) = send(&app, json!({ "psid": "demo", "events": shares })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let said = texts(&conversation(&app, "demo").await[before..]);
    assert_eq!(said, vec![no_friends; shares.len()]);

    // The same shape again is a new message.
    let before = conversation(&app, "demo").await.len();
    send(&app, json!({ "psid": "demo", "events": [shares[0]] })).await;
    assert_eq!(texts(&conversation(&app, "demo").await[before..]), vec![no_friends]);
}

#[tokio::test]
async fn an_unknown_shape_is_refused_and_nothing_is_sent() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let response = app
        .client
        .post(format!("{}/sandbox/messenger/send", app.address))
        .json(&json!({ "psid": "demo", "events": ["message_text", "carrier_pigeon"], "text": "help" }))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "no shape `carrier_pigeon`").await;
    app.run_due_jobs().await;
    assert!(conversation(&app, "demo").await.is_empty());
    let (status, body) = send(&app, json!({ "psid": "demo", "events": "message_text" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a list of names: {body}");
}
