//! Every Messenger event shape Meta documents for a page webhook, from the
//! fixture files (`tests/fixtures/messenger/webhook/`, signed as they are):
//! what is stored for the bot, what is acknowledged and ignored, what is
//! rejected, alone and all mixed in one POST.
use reqwest::StatusCode;
use sea_orm::{ActiveEnum as _, EntityTrait as _, QueryOrder as _};
use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    messenger::{Bot, bot, sign},
};
use entity::messenger_inbox;

/// Ana, Ben and Cleo: the senders of the fixtures.
pub const ANA: &str = "7384019281736452";
pub const BEN: &str = "6921847302958163";
const TRACK_URL: &str = "https://open.spotify.com/track/02M6vucOvmRfMxTXDUwRXu?si=6f1c2a8b9d3e4f50";
const ALBUM_URL: &str = "https://open.spotify.com/album/0tGPJ0bkWOUmH7MEOR77qc?si=Zr4mQ7xLT1a9bV2cW3dE5f";
const REACTED_TO: &str = "m_JYs6kDAw3Yx2xT4ciNJBMnhL6mQEVVyMQ6lRFNGNSDxPfX72cl08WoM_6K2abYztQYl9jdcTmuNCxxB5O0s-qm";

/// A fixture of `tests/fixtures/messenger/…`, byte for byte.
pub fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/messenger/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("{full}: {err}"))
}

/// Every webhook fixture's file name.
fn webhook_fixtures() -> Vec<String> {
    let dir = format!("{}/tests/fixtures/messenger/webhook", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// An inbox row as the tests compare it: kind, text, payload, target mid,
/// shared link, referral.
type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn row(
    kind: &str,
    text: Option<&str>,
    payload: Option<&str>,
    target: Option<&str>,
    shared: Option<&str>,
    referral: Option<&str>,
) -> Row {
    let own = |v: Option<&str>| v.map(str::to_owned);
    (
        kind.into(),
        own(text),
        own(payload),
        own(target),
        own(shared),
        own(referral),
    )
}

fn message(text: &str) -> Row {
    row("message", Some(text), None, None, None, None)
}

fn shared(text: Option<&str>, link: &str) -> Row {
    row("message", text, None, None, Some(link), None)
}

fn reaction(emoji: &str, action: &str) -> Row {
    row("reaction", Some(emoji), Some(action), Some(REACTED_TO), None, None)
}

/// What each fixture leaves in the inbox, in the order it was sent.
/// Everything else (reads, deliveries, echoes, opt-ins, edits, handovers,
/// account linking, policy enforcement, feedback, standby, photos and
/// stickers, events without a sender id, unknown events) is acknowledged
/// and ignored.
fn stored_by(fixture: &str) -> Vec<Row> {
    let help = message("help");
    match fixture.trim_end_matches(".json") {
        "batch_mixed_events" => vec![
            help,
            row(
                "reaction",
                Some("👍"),
                Some("react"),
                Some("m_z8HImVaQ7n7AO2F6ZjiG2eni-K_u6Z3lQHdpWxKkK7olHbOSXka_IuTmHmvog0ZoQLFZf1NL3F-S2RvrBvo_Ge"),
                None,
                None,
            ),
            shared(None, TRACK_URL),
        ],
        "message_quick_reply" => vec![row("quick_reply", Some("@ben"), Some("SEND:ben"), None, None, None)],
        "message_reactions_react" => vec![reaction("❤\u{fe0f}", "react")],
        "message_reactions_unreact" => vec![reaction("❤\u{fe0f}", "unreact")],
        "message_reactions_other" => vec![reaction("🔥", "react")],
        "message_reply_to" => vec![row(
            "reply",
            Some("yes that one"),
            None,
            Some("m_fG3TKWokGA_NfG3SSNnp69zzTFr0UVynkADKZzsP1k_e-d2Fce5Gf2tEwroMz30_r31_AODBZ85fUerS_mqkhI"),
            None,
            None,
        )],
        "message_spotify_share_album_link" => vec![shared(Some(ALBUM_URL), ALBUM_URL)],
        "message_spotify_share_fallback_top_level_url_payload_null" => vec![shared(Some("7/11"), TRACK_URL)],
        "message_spotify_share_fallback_unwrapped_url"
        | "message_spotify_share_fallback_without_text"
        | "message_spotify_share_share_type" => vec![shared(None, TRACK_URL)],
        "message_spotify_share_fallback_with_text" => vec![shared(Some(TRACK_URL), TRACK_URL)],
        "message_spotify_share_short_link" => vec![shared(
            Some("https://spotify.link/hRkBrwub9xb"),
            "https://spotify.link/hRkBrwub9xb",
        )],
        "message_text" | "unknown_fields_on_known_event" => vec![help],
        "message_text_with_nul_character" => vec![message("helloworld")],
        "message_text_with_spotify_link" => vec![message(
            "send https://open.spotify.com/track/4iV5W9uYEdYUVa79Axb7Rh to @ben what a tune",
        )],
        "message_with_ads_referral" => vec![message("Is this the app that tells you when a friend plays your song?")],
        "postback_button" => vec![row("postback", Some("Inbox"), Some("INBOX"), None, None, None)],
        "postback_get_started" => vec![row(
            "postback",
            Some("Get Started"),
            Some("GET_STARTED"),
            None,
            None,
            None,
        )],
        "postback_get_started_with_referral" => vec![row(
            "postback",
            Some("Get Started"),
            Some("GET_STARTED"),
            None,
            None,
            Some("4821730596184273"),
        )],
        "referral_ads" => vec![row("referral", None, None, None, None, Some("autumn-launch"))],
        "referral_chat_plugin_psid" => vec![row("referral", None, None, None, None, Some("footer-widget"))],
        "referral_mme_shortlink" => vec![row("referral", None, None, None, None, Some("4821730596184273"))],
        // What holds no text and no Spotify link: its attachment types.
        "message_attachment_image" => vec![attachment(Some("image"))],
        "message_attachment_audio" => vec![attachment(Some("audio"))],
        "message_attachment_video" => vec![attachment(Some("video"))],
        "message_attachment_file" => vec![attachment(Some("file"))],
        "message_attachments_multiple" => vec![attachment(Some("image,video"))],
        "message_attachment_post" => vec![attachment(Some("post"))],
        "message_attachment_location" => vec![attachment(Some("location"))],
        "message_attachment_template" => vec![attachment(Some("template"))],
        "message_attachment_reel" => vec![attachment(Some("reel"))],
        "message_attachment_ig_reel" => vec![attachment(Some("ig_reel"))],
        "message_attachment_story_mention" => vec![attachment(Some("story_mention"))],
        "message_attachment_product" => vec![attachment(Some("product"))],
        "message_fallback_without_payload" => vec![attachment(Some("fallback"))],
        "message_sticker" | "message_sticker_legacy_image" | "message_sticker_transition_sticker_and_image" => {
            vec![attachment(Some("sticker"))]
        }
        "message_attachment_template_spotify_track" => vec![shared(None, TRACK_URL)],
        _ => Vec::new(),
    }
}

/// A message of attachments only, by their types.
fn attachment(kinds: Option<&str>) -> Row {
    row("attachment", None, kinds, None, None, None)
}

/// Every inbox row, oldest first.
async fn inbox(app: &TestApp) -> Vec<messenger_inbox::Model> {
    let db = app.db().await;
    messenger_inbox::Entity::find()
        .order_by_asc(messenger_inbox::Column::SentAtMs)
        .order_by_asc(messenger_inbox::Column::Id)
        .all(&db)
        .await
        .unwrap()
}

fn as_row(model: &messenger_inbox::Model) -> Row {
    (
        model.kind.to_value(),
        model.text.clone(),
        model.payload.clone(),
        model.target_mid.clone(),
        model.shared_url.clone(),
        model.referral.clone(),
    )
}

impl Bot {
    /// Posts `body` signed, as Meta does; answers the status.
    pub async fn post_signed(&self, body: &str) -> StatusCode {
        self.post(body, Some(&sign(body))).await.status()
    }
}

/// The sum of every series of a labelled counter on `/metrics`.
pub async fn counter_sum(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn every_documented_event_is_acknowledged_and_stored_or_ignored_as_the_bot_needs() {
    let bot = bot().await;
    let names = webhook_fixtures();
    assert!(names.len() >= 60, "{names:?}");
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        let status = bot.post_signed(&fixture(&format!("webhook/{name}"))).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let new: Vec<Row> = inbox(&bot.app)
            .await
            .iter()
            .filter(|event| seen.insert(event.id))
            .map(as_row)
            .collect();
        assert_eq!(new, stored_by(name), "{name}");
    }
    // A second delivery of each stores nothing new.
    for name in &names {
        assert_eq!(
            bot.post_signed(&fixture(&format!("webhook/{name}"))).await,
            StatusCode::OK
        );
    }
    assert_eq!(inbox(&bot.app).await.len(), seen.len(), "redeliveries are stored once");
}

#[tokio::test]
async fn every_documented_event_mixed_in_one_post_is_acknowledged_and_nothing_valid_is_lost() {
    let bot = bot().await;
    let names = webhook_fixtures();
    let entries: Vec<Value> = names
        .iter()
        .flat_map(|name| {
            let body: Value = serde_json::from_str(&fixture(&format!("webhook/{name}"))).unwrap();
            body["entry"].as_array().unwrap().clone()
        })
        .collect();
    let body = json!({ "object": "page", "entry": entries }).to_string();
    assert_eq!(bot.post_signed(&body).await, StatusCode::OK);

    let mut expected: Vec<Row> = names.iter().flat_map(|name| stored_by(name)).collect();
    let mut stored: Vec<Row> = inbox(&bot.app).await.iter().map(as_row).collect();
    // The same "help" message is in two fixtures with different ids; the
    // reaction of the mixed batch and Ana's own are different events.
    expected.sort();
    stored.sort();
    assert_eq!(stored, expected);

    // Ana's "help" (she is unknown: the greeting, then what she can do
    // before her chat is linked) is answered.
    bot.app.run_due_jobs().await;
    let to_ana: Vec<String> = bot
        .sent_to(ANA)
        .iter()
        .map(|m| m["message"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(to_ana[0].starts_with("Hi! I'm Send Songs"), "{to_ana:?}");
    assert!(
        to_ana
            .iter()
            .any(|t| t.starts_with("This chat isn't linked to Send Songs yet")),
        "{to_ana:?}"
    );
}

#[tokio::test]
async fn a_shared_spotify_link_is_read_as_if_it_had_been_pasted() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    bot.app.befriend(&sam, &alex).await;
    bot.link(ANA, &sam).await;

    for name in [
        "message_spotify_share_fallback_with_text",
        "message_spotify_share_fallback_without_text",
        "message_spotify_share_fallback_unwrapped_url",
        "message_spotify_share_fallback_top_level_url_payload_null",
        "message_spotify_share_share_type",
    ] {
        assert_eq!(
            bot.post_signed(&fixture(&format!("webhook/{name}.json"))).await,
            StatusCode::OK
        );
        let replies = bot.handled(ANA).await;
        assert_eq!(replies.len(), 1, "{name}: {replies:?}");
        assert!(replies[0].starts_with("Who should get “"), "{name}: {replies:?}");
        let question = bot.sent_to(ANA).last().unwrap().clone();
        assert_eq!(
            question["message"]["quick_replies"][0]["payload"], "SEND:alex",
            "{name}: {question}"
        );
    }
    assert_eq!(
        bot.post_signed(&fixture("webhook/message_spotify_share_album_link.json"))
            .await,
        StatusCode::OK
    );
    let album = bot.handled(ANA).await;
    assert!(album[0].contains("only tracks can be shared"), "{album:?}");

    // The mixed batch: Ben's share (wrapped, no text) asks him too.
    bot.link(BEN, &alex).await;
    assert_eq!(
        bot.post_signed(&fixture("webhook/batch_mixed_events.json")).await,
        StatusCode::OK
    );
    let to_ben = bot.handled(BEN).await;
    assert!(to_ben[0].starts_with("Who should get “"), "{to_ben:?}");
}

#[tokio::test]
async fn events_of_no_use_reactions_and_replies_get_no_answer() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    bot.link(ANA, &sam).await;
    bot.link(BEN, &bot.app.sign_up("ben").await).await;
    let silent = [
        "message_reactions_react",
        "message_reactions_unreact",
        "message_reply_to",
        "message_reads",
        "message_deliveries",
        "message_echo_text",
        "message_edits",
        "standby_message",
        "handover_pass_thread_control",
        "account_linking_linked",
        "policy_enforcement_block",
        "optin_notification_messages",
        "referral_ads",
        "response_feedback",
        "unknown_future_event_type",
    ];
    for name in silent {
        assert_eq!(
            bot.post_signed(&fixture(&format!("webhook/{name}.json"))).await,
            StatusCode::OK,
            "{name}"
        );
    }
    assert!(bot.handled(ANA).await.is_empty());
    assert!(bot.handled(BEN).await.is_empty());
    assert!(
        inbox(&bot.app).await.iter().all(|event| event.handled_at.is_some()),
        "what was stored was handled"
    );
}

/// A message event from `psid` with its own `mid` and `text`.
fn text_event(psid: &str, mid: &str, text: &str) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": "104872931258841" }, "timestamp": 1789466500000i64,
            "message": { "mid": mid, "text": text } })
}

fn body_of(events: Vec<Value>) -> String {
    let entry: Vec<Value> = events
        .into_iter()
        .map(|event| json!({ "id": "104872931258841", "time": 1789466500000i64, "messaging": [event] }))
        .collect();
    json!({ "object": "page", "entry": entry }).to_string()
}

#[tokio::test]
async fn what_cannot_be_stored_is_rejected_and_every_other_event_of_the_post_is_kept() {
    let bot = bot().await;
    let rejected_before = counter_sum(&bot.app, "messenger_webhook_rejected_total").await;
    let long_psid = "7".repeat(65);
    let long_mid = format!("m_{}", "x".repeat(300));
    let body = body_of(vec![
        text_event("p-nul", "m_nul", "hello\u{0}world"),
        text_event("p-ctl", "m_ctl", "bell\u{7} escape\u{1b}[31m tab\tline\nend"),
        text_event(&long_psid, "m_long_psid", "help"),
        text_event("p-mid", &long_mid, "help"),
        text_event("p-nul\u{0}", "m_nul_psid", "help"),
        json!({ "sender": { "id": "p-nomid" }, "timestamp": 1789466500000i64, "message": { "text": "help" } }),
        json!("not an event"),
        text_event("p-ok", "m_ok", "help"),
    ]);
    // A cut emoji (a lone surrogate), as a client may send it.
    let body = body.replace("line\\nend", "line\\nend \\ud83d");
    assert_eq!(bot.post_signed(&body).await, StatusCode::OK);

    let stored: Vec<(String, Option<String>)> = inbox(&bot.app)
        .await
        .into_iter()
        .map(|event| (event.psid, event.text))
        .collect();
    assert_eq!(
        stored,
        vec![
            ("p-nul".to_owned(), Some("helloworld".to_owned())),
            (
                "p-ctl".to_owned(),
                Some("bell escape[31m tab\tline\nend \u{fffd}".to_owned())
            ),
            ("p-ok".to_owned(), Some("help".to_owned())),
        ]
    );
    let rejected = counter_sum(&bot.app, "messenger_webhook_rejected_total").await - rejected_before;
    assert!(rejected >= 5.0, "rejections counted: {rejected}");
    let metrics = bot.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "messenger_webhook_rejected_total{reason=\"sender id empty, too long or with control characters\"}"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("hello"), "no content in the metrics");

    bot.app.run_due_jobs().await;
    assert_eq!(bot.sent_to("p-ok").len(), 2, "help and the welcome");
    assert!(!bot.sent_to("p-nul").is_empty(), "the repaired message is answered too");
}

#[tokio::test]
async fn a_bad_post_never_fails_the_posts_stored_with_it() {
    let bot = bot().await;
    // Posts at once (several stored per transaction), every third one
    // carrying what cannot be stored as it is.
    let bodies: Vec<String> = (0..30)
        .map(|n| {
            let psid = format!("g{n}");
            let event = match n % 3 {
                0 => text_event(&psid, &format!("m_g_{n}"), "nul\u{0}here"),
                1 => text_event(&"9".repeat(70), &format!("m_g_{n}"), "help"),
                _ => text_event(&psid, &format!("m_g_{n}"), "help"),
            };
            body_of(vec![event])
        })
        .collect();
    let posts = bodies.iter().map(|body| bot.post_signed(body));
    for status in futures_util::future::join_all(posts).await {
        assert_eq!(status, StatusCode::OK);
    }
    let stored = inbox(&bot.app).await;
    assert_eq!(stored.len(), 20, "every post but the ten rejected ones");
    assert!(stored.iter().all(|event| event.psid.starts_with('g')));
    assert_eq!(
        stored
            .iter()
            .filter(|event| event.text.as_deref() == Some("nulhere"))
            .count(),
        10
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_and_one_from_another_product_acknowledged() {
    let bot = bot().await;
    assert_eq!(bot.post_signed("{ not json").await, StatusCode::BAD_REQUEST);
    assert_eq!(bot.post_signed("[1, 2]").await, StatusCode::BAD_REQUEST);
    let instagram = json!({ "object": "instagram", "entry": [{ "id": "1", "time": 1, "messaging": [
        text_event("p1", "m_ig", "help") ] }] })
    .to_string();
    assert_eq!(bot.post_signed(&instagram).await, StatusCode::OK);
    assert_eq!(bot.post_signed(r#"{"object": "page"}"#).await, StatusCode::OK);
    assert_eq!(
        bot.post_signed(r#"{"object": "page", "entry": {"odd": true}}"#).await,
        StatusCode::OK
    );
    assert!(inbox(&bot.app).await.is_empty());
}

/// A stored field of a webhook event: its name, the event that carries
/// `value` in it (from `psid`, with message id `mid` where the event has
/// one), where the inbox keeps it, and whether it is an identifier
/// (refused when it cannot be kept as it is) or free text (kept clean).
struct Field {
    name: &'static str,
    event: fn(psid: &str, mid: &str, value: &str) -> Value,
    stored: fn(&messenger_inbox::Model) -> Option<String>,
    id: bool,
}

/// Every field of every kind of event the inbox stores.
fn stored_fields() -> Vec<Field> {
    vec![
        Field {
            name: "sender id",
            event: |_, mid, value| text_event(value, mid, "help"),
            stored: |row| Some(row.psid.clone()),
            id: true,
        },
        Field {
            name: "message id",
            event: |psid, _, value| text_event(psid, value, "help"),
            stored: |row| Some(row.mid.clone()),
            id: true,
        },
        Field {
            name: "message text",
            event: |psid, mid, value| text_event(psid, mid, value),
            stored: |row| row.text.clone(),
            id: false,
        },
        Field {
            name: "quick-reply payload",
            event: |psid, mid, value| {
                let mut event = text_event(psid, mid, "Yes");
                event["message"]["quick_reply"] = json!({ "payload": value });
                event
            },
            stored: |row| row.payload.clone(),
            id: false,
        },
        Field {
            name: "replied-to message id",
            event: |psid, mid, value| {
                let mut event = text_event(psid, mid, "this one");
                event["message"]["reply_to"] = json!({ "mid": value });
                event
            },
            stored: |row| row.target_mid.clone(),
            id: true,
        },
        Field {
            name: "attachment URL",
            event: |psid, mid, value| {
                let mut event = text_event(psid, mid, "");
                event["message"] = json!({ "mid": mid, "attachments": [
                    { "type": "fallback", "payload": { "url": format!("https://open.spotify.com/track/{value}"),
                                                       "title": "A song" } } ] });
                event
            },
            stored: |row| {
                row.shared_url
                    .as_deref()
                    .and_then(|url| url.strip_prefix("https://open.spotify.com/track/"))
                    .map(str::to_owned)
            },
            id: false,
        },
        Field {
            name: "postback message id",
            event: |psid, _, value| postback_event(psid, json!({ "mid": value, "title": "Start", "payload": "GO" })),
            stored: |row| Some(row.mid.clone()),
            id: true,
        },
        Field {
            name: "postback payload",
            event: |psid, mid, value| postback_event(psid, json!({ "mid": mid, "title": "Start", "payload": value })),
            stored: |row| row.payload.clone(),
            id: false,
        },
        Field {
            name: "postback title",
            event: |psid, mid, value| postback_event(psid, json!({ "mid": mid, "title": value, "payload": "GO" })),
            stored: |row| row.text.clone(),
            id: false,
        },
        Field {
            name: "postback referral ref",
            event: |psid, mid, value| {
                postback_event(
                    psid,
                    json!({ "mid": mid, "title": "Get Started", "payload": "GET_STARTED",
                            "referral": { "ref": value, "source": "SHORTLINK", "type": "OPEN_THREAD" } }),
                )
            },
            stored: |row| row.referral.clone(),
            id: false,
        },
        Field {
            name: "referral ref",
            event: |psid, _, value| {
                json!({ "sender": { "id": psid }, "recipient": { "id": "104872931258841" },
                        "timestamp": 1789466500000i64,
                        "referral": { "ref": value, "source": "SHORTLINK", "type": "OPEN_THREAD" } })
            },
            stored: |row| row.referral.clone(),
            id: false,
        },
        Field {
            name: "reaction emoji",
            event: |psid, mid, value| reaction_event(psid, json!({ "mid": mid, "action": "react", "emoji": value })),
            stored: |row| row.text.clone(),
            id: false,
        },
        Field {
            name: "reaction action",
            event: |psid, mid, value| reaction_event(psid, json!({ "mid": mid, "action": value, "emoji": "👍" })),
            stored: |row| row.payload.clone(),
            id: false,
        },
        Field {
            name: "reacted-to message id",
            event: |psid, _, value| reaction_event(psid, json!({ "action": "react", "emoji": "👍", "mid": value })),
            stored: |row| row.target_mid.clone(),
            id: true,
        },
    ]
}

fn postback_event(psid: &str, postback: Value) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": "104872931258841" }, "timestamp": 1789466500000i64,
            "postback": postback })
}

fn reaction_event(psid: &str, reaction: Value) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": "104872931258841" }, "timestamp": 1789466500000i64,
            "reaction": reaction })
}

/// Stands for a lone surrogate, escaped in the JSON as a client may send
/// it (a Rust string cannot hold one).
const LONE_SURROGATE: &str = "~lone-surrogate~";

/// A hostile string: its name, the value (`LONE_SURROGATE` stands for
/// `\ud800`), and what a free-text field keeps of it (`None`: the event is
/// refused; an identifier is refused whenever it is not kept as sent).
struct Hostile {
    name: &'static str,
    value: String,
    kept: Option<String>,
}

fn hostile_strings() -> Vec<Hostile> {
    let kept = |name, value: &str, kept: &str| Hostile {
        name,
        value: value.to_owned(),
        kept: Some(kept.to_owned()),
    };
    vec![
        kept("NUL", "a\u{0}b", "ab"),
        kept("C0 controls", "a\u{1}\u{1b}[31m\u{8}b", "a[31mb"),
        kept("DEL", "a\u{7f}b", "ab"),
        kept("C1 controls", "a\u{85}\u{9b}\u{9f}b", "ab"),
        kept("lone surrogate", &format!("a{LONE_SURROGATE}b"), "a\u{fffd}b"),
        Hostile {
            name: "too long",
            value: "é".repeat(api::messenger::inbox::MAX_TEXT_BYTES / 2 + 1),
            kept: None,
        },
    ]
}

#[tokio::test]
async fn every_stored_webhook_field_keeps_or_refuses_each_kind_of_hostile_string_and_the_rest_of_the_post_is_stored() {
    let bot = bot().await;
    let fields = stored_fields();
    let strings = hostile_strings();
    let mut events = vec![text_event("p-good", "m_good", "help")];
    // (field, string, psid, mid) of each event.
    let mut cases = Vec::new();
    for (f, field) in fields.iter().enumerate() {
        for (h, hostile) in strings.iter().enumerate() {
            let (psid, mid) = (format!("p-{f}-{h}"), format!("m_{f}_{h}"));
            // Each value is its field's own (two ids the same would be one
            // message, stored once).
            events.push((field.event)(&psid, &mid, &format!("f{f}{}", hostile.value)));
            cases.push((field, hostile, psid, mid));
        }
    }
    let body = body_of(events).replace(LONE_SURROGATE, "\\ud800");
    assert!(body.contains("a\\ud800b"), "the escape is in the body as sent");
    assert_eq!(bot.post_signed(&body).await, StatusCode::OK);

    let stored = inbox(&bot.app).await;
    assert!(
        stored
            .iter()
            .any(|row| row.psid == "p-good" && row.text.as_deref() == Some("help")),
        "the good event of the post is stored"
    );
    let mut wrong = Vec::new();
    for (f, (field, hostile, psid, mid)) in cases.iter().enumerate() {
        let f = f / strings.len();
        // The event's row: by its message id where the sender id is the
        // hostile one, else by its sender.
        let row = stored.iter().find(|row| {
            if field.name == "sender id" {
                row.mid == *mid
            } else {
                row.psid == *psid
            }
        });
        let expected = if field.id {
            // An identifier is kept only as it was sent (a lone surrogate
            // was already read as U+FFFD, a character like any other).
            (hostile.name == "lone surrogate").then(|| hostile.kept.clone().unwrap())
        } else {
            hostile.kept.clone()
        }
        .map(|kept| format!("f{f}{kept}"));
        let got = row.map(field.stored);
        let ok = match (&expected, &got) {
            (None, None) => true,
            (Some(expected), Some(Some(got))) => expected == got,
            _ => false,
        };
        if !ok {
            let shown = |value: Option<&String>| value.map(|v| v.chars().take(40).collect::<String>());
            wrong.push(format!(
                "{} with {}: expected {:?}, stored {:?}",
                field.name,
                hostile.name,
                shown(expected.as_ref()),
                got.map(|got| shown(got.as_ref()))
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(
        stored.len(),
        1 + cases.len() - count_refused(&cases),
        "nothing else stored"
    );
}

fn count_refused(cases: &[(&Field, &Hostile, String, String)]) -> usize {
    cases
        .iter()
        .filter(|(field, hostile, _, _)| hostile.kept.is_none() || (field.id && hostile.name != "lone surrogate"))
        .count()
}
