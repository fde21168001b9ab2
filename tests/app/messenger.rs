//! The Messenger bot end to end: Meta-shaped webhook payloads signed with a
//! test secret, and a fake Send API recording what the bot answers.
use std::{
    sync::atomic::{AtomicI64, Ordering},
    sync::{Arc, Mutex},
    time::Duration,
};

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    helpers::{Session, TestApp, serve, spawn_app_with},
    notify_fakes::{self, Recorded, Shared},
    shares::TRACK,
};

pub const SECRET: &str = "test-app-secret";
const PAGE_ID: &str = "1234567890";

pub struct Bot {
    pub app: TestApp,
    pub fakes: Shared,
    /// The fake Send API's base (`MESSENGER_GRAPH_URL`), for replicas.
    pub graph: String,
    /// Meta timestamps, increasing.
    clock_ms: AtomicI64,
}

pub async fn bot() -> Bot {
    bot_with(&[]).await
}

/// The bot, with extra settings.
pub async fn bot_with(extra: &[(&str, &str)]) -> Bot {
    let (fakes, graph) = send_api().await;
    let mut settings = messenger_settings(&graph);
    settings.extend_from_slice(extra);
    let app = spawn_app_with(&settings).await;
    Bot::around(app, fakes, graph)
}

/// A fake Send API: what it records, and its base (`MESSENGER_GRAPH_URL`).
pub async fn send_api() -> (Shared, String) {
    let fakes: Shared = Arc::new(Mutex::new(Recorded::default()));
    let base = serve(notify_fakes::router(fakes.clone())).await;
    (fakes, format!("{base}/graph"))
}

/// The settings of a bot talking to the fake Send API at `graph`.
pub fn messenger_settings(graph: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("MESSENGER_APP_SECRET", SECRET),
        ("MESSENGER_VERIFY_TOKEN", "verify-me"),
        ("MESSENGER_PAGE_TOKEN", "page-token"),
        ("MESSENGER_GRAPH_URL", graph),
    ]
}

impl Bot {
    /// The bot of `app`, spawned with [`messenger_settings`] for the fake
    /// Send API `fakes` at `graph`.
    pub fn around(app: TestApp, fakes: Shared, graph: String) -> Self {
        let start = api::clock::Clock::now(app.clock.as_ref()).timestamp_millis();
        Self {
            app,
            fakes,
            graph,
            clock_ms: AtomicI64::new(start),
        }
    }
}

pub fn sign(body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// One `messaging` item with a text message, as Meta sends it.
pub fn text_event(psid: &str, mid: &str, text: &str, timestamp: i64) -> Value {
    json!({
        "sender": { "id": psid },
        "recipient": { "id": PAGE_ID },
        "timestamp": timestamp,
        "message": { "mid": mid, "text": text }
    })
}

pub fn page_body(entries: Vec<Vec<Value>>) -> String {
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|messaging| json!({ "id": PAGE_ID, "time": 1_700_000_000_000i64, "messaging": messaging }))
        .collect();
    json!({ "object": "page", "entry": entry }).to_string()
}

impl Bot {
    pub async fn post(&self, body: &str, signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(format!("{}/webhooks/messenger", self.app.address))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send().await.unwrap()
    }

    /// Meta's timestamp for the next event: the app's "now", never repeating.
    fn next_ms(&self) -> i64 {
        let now = api::clock::Clock::now(self.app.clock.as_ref()).timestamp_millis();
        let previous = self.clock_ms.fetch_max(now, Ordering::SeqCst).max(now);
        self.clock_ms.store(previous + 1, Ordering::SeqCst);
        previous + 1
    }

    /// `psid` writes `text`; the bot handles it; answers the texts it sent back.
    pub async fn say(&self, psid: &str, text: &str) -> Vec<String> {
        let ts = self.next_ms();
        let body = page_body(vec![vec![text_event(psid, &format!("m_{psid}_{ts}"), text, ts)]]);
        let response = self.post(&body, Some(&sign(&body))).await;
        assert_eq!(response.status(), StatusCode::OK);
        self.handled(psid).await
    }

    /// Runs the due jobs; answers the texts they sent to `psid`.
    pub async fn handled(&self, psid: &str) -> Vec<String> {
        let before = self.sent_to(psid).len();
        self.app.run_due_jobs().await;
        self.sent_to(psid)[before..]
            .iter()
            .map(|m| m["message"]["text"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Every Send API body sent to `psid`.
    pub fn sent_to(&self, psid: &str) -> Vec<Value> {
        self.fakes
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|(p, _)| p == psid)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// `psid` taps Get Started (a postback with the id `mid`).
    pub async fn get_started(&self, psid: &str, mid: &str) {
        let ts = self.next_ms();
        let body = page_body(vec![vec![json!({
            "sender": { "id": psid }, "recipient": { "id": PAGE_ID }, "timestamp": ts,
            "postback": { "title": "Get Started", "payload": "GET_STARTED", "mid": mid }
        })]]);
        assert_eq!(self.post(&body, Some(&sign(&body))).await.status(), StatusCode::OK);
    }

    /// A link code `session` makes in the app.
    pub async fn link_code(&self, session: &Session) -> String {
        let body = self
            .app
            .graphql("mutation { createLinkCode { code } }", json!({}), Some(&session.access))
            .await;
        body["data"]["createLinkCode"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }

    /// Links `psid` to `session` with a code from the app.
    pub async fn link(&self, psid: &str, session: &Session) {
        let code = self.link_code(session).await;
        let replies = self.say(psid, &code).await;
        assert!(
            replies
                .iter()
                .any(|reply| reply.starts_with(&format!("You're linked as @{}", session.handle))),
            "{replies:?}"
        );
    }
}

#[tokio::test]
async fn the_handshake_answers_the_challenge_only_for_the_right_token() {
    let bot = bot().await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            bot.app.address
        )
    };
    let ok = bot.app.client.get(url("verify-me")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = bot.app.client.get(url("guess")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unsigned_tampered_or_malformed_posts_are_refused_and_store_nothing() {
    let bot = bot().await;
    let body = page_body(vec![vec![text_event("p1", "m_1", "help", 1)]]);
    assert_eq!(bot.post(&body, None).await.status(), StatusCode::FORBIDDEN);
    let tampered = body.replace("help", "stop");
    assert_eq!(
        bot.post(&tampered, Some(&sign(&body))).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(bot.post(&body, Some("sha256=00")).await.status(), StatusCode::FORBIDDEN);
    let garbage = "{ not json";
    assert_eq!(
        bot.post(garbage, Some(&sign(garbage))).await.status(),
        StatusCode::BAD_REQUEST
    );
    let huge = format!(
        "{{\"object\":\"page\",\"x\":\"{}\"}}",
        "y".repeat(api::webhook::BODY_LIMIT)
    );
    assert_eq!(
        bot.post(&huge, Some(&sign(&huge))).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    assert_eq!(bot.app.run_due_jobs().await, 0, "nothing was stored");
    assert!(bot.sent_to("p1").is_empty());
}

#[tokio::test]
async fn a_batch_of_entries_is_handled_and_a_redelivery_has_no_second_effect() {
    let bot = bot().await;
    let body = page_body(vec![
        vec![
            text_event("p1", "m_a", "help", 1_000),
            text_event("p2", "m_b", "help", 1_001),
        ],
        vec![
            text_event("p3", "m_c", "help", 1_002),
            json!({ "sender": { "id": "p1" }, "recipient": { "id": PAGE_ID }, "timestamp": 1_003,
                    "delivery": { "mids": ["m_x"], "watermark": 1_003 } }),
            json!({ "sender": { "id": "p1" }, "recipient": { "id": PAGE_ID }, "timestamp": 1_004,
                    "read": { "watermark": 1_004 } }),
            json!({ "sender": { "id": PAGE_ID }, "recipient": { "id": "p2" }, "timestamp": 1_005,
                    "message": { "mid": "m_echo", "text": "echo", "is_echo": true, "app_id": 42 } }),
        ],
    ]);
    let signature = sign(&body);
    assert_eq!(bot.post(&body, Some(&signature)).await.status(), StatusCode::OK);
    assert_eq!(
        bot.post(&body, Some(&signature)).await.status(),
        StatusCode::OK,
        "redelivered"
    );
    bot.app.run_due_jobs().await;

    for psid in ["p1", "p2", "p3"] {
        // Unknown senders get the welcome (help alone is not enough for them).
        let sent = bot.sent_to(psid);
        assert_eq!(sent.len(), 2, "{psid}: one help and one welcome, once: {sent:?}");
        assert_eq!(sent[0]["messaging_type"], "RESPONSE");
    }
}

#[tokio::test]
async fn concurrent_posts_are_each_stored_once_and_each_sender_answered_in_order() {
    let bot = bot().await;
    // 60 posts at once from 6 senders (several stored per transaction), each
    // sent twice (Meta redelivers), the second copies racing the first.
    let bodies: Vec<String> = (0..60)
        .map(|n| {
            let psid = format!("c{}", n % 6);
            page_body(vec![vec![text_event(&psid, &format!("m_c_{n}"), "help", 10_000 + n)]])
        })
        .collect();
    let signed: Vec<(&String, String)> = bodies.iter().map(|body| (body, sign(body))).collect();
    let posts = signed
        .iter()
        .chain(signed.iter())
        .map(|(body, signature)| bot.post(body, Some(signature)));
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    bot.app.run_due_jobs().await;
    for sender in 0..6 {
        let psid = format!("c{sender}");
        let sent = bot.sent_to(&psid);
        // An unknown sender asking for help gets the greeting once, then
        // the help for a chat not linked yet: 10 messages each, each
        // answered once.
        assert_eq!(sent.len(), 11, "{psid}: {sent:?}");
    }
    let db = bot.app.db().await;
    let stored = entity::messenger_inbox::Entity::find().count(&db).await.unwrap();
    assert_eq!(stored, 60, "each message stored once");
    let left: Vec<String> = entity::jobs::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.kind)
        .filter(|kind| ["handle_inbox", "send_bot_reply"].contains(&kind.as_str()))
        .collect();
    assert!(
        left.is_empty(),
        "every sender's job ran and left the queue (the recurring sweeps stay): {left:?}"
    );
}

#[tokio::test]
async fn the_webhook_answers_before_any_work_is_done() {
    let bot = bot().await;
    let body = page_body(vec![vec![text_event("p1", "m_1", "help", 1)]]);
    assert_eq!(bot.post(&body, Some(&sign(&body))).await.status(), StatusCode::OK);
    assert!(bot.sent_to("p1").is_empty(), "no reply yet: it waits in the queue");
    bot.app.run_due_jobs().await;
    assert_eq!(bot.sent_to("p1").len(), 2);
}

#[tokio::test]
async fn events_of_one_sender_are_handled_in_timestamp_order() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    bot.link("psam", &sam).await;
    // "friends" was written after "add alex", but arrives first.
    let later = page_body(vec![vec![text_event("psam", "m_later", "friends", 9_000_000_000_000)]]);
    let earlier = page_body(vec![vec![text_event(
        "psam",
        "m_earlier",
        "add alex",
        8_999_999_999_000,
    )]]);
    bot.post(&later, Some(&sign(&later))).await;
    bot.post(&earlier, Some(&sign(&earlier))).await;
    let replies = bot.handled("psam").await;
    assert_eq!(
        replies,
        vec![
            "Friend request sent to @alex.".to_owned(),
            "Waiting for: @alex".to_owned()
        ]
    );
    let _ = alex;
}

#[tokio::test]
async fn an_unknown_sender_gets_a_welcome_with_the_connect_link() {
    let bot = bot().await;
    let replies = bot.say("stranger", "hey there").await;
    assert_eq!(replies.len(), 2, "the greeting, then the first steps: {replies:?}");
    assert!(replies[0].starts_with("Hi! I'm Send Songs"), "{replies:?}");
    assert!(replies[1].contains("/auth/spotify/start?m="), "{replies:?}");
    assert!(replies[1].contains("16 digits"));
}

#[tokio::test]
async fn linking_by_code_works_once_and_wrong_codes_are_limited() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let code = bot.link_code(&sam).await;
    let spaced = format!("{} {}-{} {}", &code[..4], &code[4..8], &code[8..12], &code[12..]);

    let replies = bot.say("psam", &format!("link {spaced}")).await;
    assert!(replies[0].starts_with("Hi! I'm Send Songs"), "{replies:?}");
    assert!(replies[1].starts_with("You're linked as @sam"), "{replies:?}");
    let me = bot
        .app
        .graphql("{ me { messengerLinked } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(me["data"]["me"]["messengerLinked"], true);
    let again = bot.say("pother", &code).await;
    assert!(again[1].starts_with("That code doesn't work"), "single use: {again:?}");

    for n in 0..4 {
        let wrong = bot.say("pother", &format!("{:016}", n)).await;
        assert!(wrong[0].starts_with("That code doesn't work"), "{wrong:?}");
    }
    let fresh = bot
        .app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await;
    let refused = bot
        .say("pother", fresh["data"]["createLinkCode"]["code"].as_str().unwrap())
        .await;
    assert!(refused[0].contains("too many wrong codes"), "{refused:?}");
    bot.app.advance(Duration::from_secs(3601));
    let later = bot.say("pother", &format!("{:016}", 9)).await;
    assert!(
        later[0].starts_with("That code doesn't work"),
        "checked again after the hour: {later:?}"
    );
}

#[tokio::test]
async fn connect_links_the_sender_through_spotify_and_confirms_in_messenger() {
    let bot = bot().await;
    let replies = bot.say("pnew", "connect").await;
    let link = replies[1]
        .split_whitespace()
        .find(|w| w.contains("/auth/spotify/start?m="))
        .unwrap()
        .to_owned();
    let spotify = bot.app.location(&link).await;

    let (_, page) = bot.app.browse(&format!("{spotify}&sandbox_account=newcomer")).await;
    assert!(page.contains("You're connected as <b>@newcomer</b>"), "{page}");
    let confirmation = bot.handled("pnew").await;
    assert_eq!(confirmation.len(), 1);
    assert!(
        confirmation[0].starts_with("You're connected as @newcomer"),
        "{confirmation:?}"
    );
    let help = bot.say("pnew", "friends").await;
    assert_eq!(
        help,
        vec!["No friends yet: send `add <handle>` to ask someone.".to_owned()]
    );
}

#[tokio::test]
async fn sending_a_song_to_a_friend_and_its_failure_cases() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    bot.app.sign_up("kim").await;
    bot.app.befriend(&sam, &alex).await;
    bot.link("psam", &sam).await;

    let sent = bot
        .say("psam", &format!("send {TRACK} to @alex this one is for you"))
        .await;
    assert!(
        sent[0].starts_with("Sent “") && sent[0].ends_with("to @alex. I'll tell you when they play it 🎧"),
        "{sent:?}"
    );
    let inbox = bot
        .app
        .graphql(
            "{ shares(box: RECEIVED) { edges { node { note sender { handle } } } } }",
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(
        inbox["data"]["shares"]["edges"][0]["node"]["note"],
        "this one is for you"
    );
    let twice = bot.say("psam", &format!("send {TRACK} to alex")).await;
    assert!(twice[0].starts_with("You already sent"), "{twice:?}");
    let stranger = bot.say("psam", &format!("send {TRACK} to kim")).await;
    assert_eq!(
        stranger,
        vec!["@kim isn't your friend yet: send `add kim` first.".to_owned()]
    );
    let nobody = bot.say("psam", &format!("send {TRACK} to ghost")).await;
    assert!(nobody[0].contains("I don't know anyone called @ghost"), "{nobody:?}");
    let album = bot
        .say(
            "psam",
            "send https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3 to alex",
        )
        .await;
    assert!(album[0].contains("only tracks can be shared"), "{album:?}");
}

#[tokio::test]
async fn a_bare_link_asks_to_whom_and_the_quick_reply_completes_the_share() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    bot.app.befriend(&sam, &alex).await;
    bot.link("psam", &sam).await;

    bot.say("psam", "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=x")
        .await;
    let question = bot.sent_to("psam").last().unwrap().clone();
    assert!(
        question["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Who should get “"),
        "{question}"
    );
    assert_eq!(
        question["message"]["quick_replies"][0],
        json!({ "content_type": "text", "title": "@alex", "payload": "SEND:alex" })
    );

    let ts = bot.next_ms();
    let body = page_body(vec![vec![json!({
        "sender": { "id": "psam" }, "recipient": { "id": PAGE_ID }, "timestamp": ts,
        "message": { "mid": "m_qr", "text": "@alex", "quick_reply": { "payload": "SEND:alex" } }
    })]]);
    bot.post(&body, Some(&sign(&body))).await;
    let replies = bot.handled("psam").await;
    assert!(replies[0].starts_with("Sent “"), "{replies:?}");

    // A question left unanswered for more than 10 minutes expires.
    bot.say("psam", "spotify:track:0000000000000000000001").await;
    bot.app.advance(Duration::from_secs(11 * 60));
    let ts = bot.next_ms();
    let late = page_body(vec![vec![json!({
        "sender": { "id": "psam" }, "recipient": { "id": PAGE_ID }, "timestamp": ts,
        "message": { "mid": "m_qr2", "text": "@alex", "quick_reply": { "payload": "SEND:alex" } }
    })]]);
    bot.post(&late, Some(&sign(&late))).await;
    let expired = bot.handled("psam").await;
    assert_eq!(
        expired,
        vec!["That question has expired: paste the link again.".to_owned()]
    );
}

#[tokio::test]
async fn the_to_whom_question_offers_at_most_13_friends() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    for n in 1..=14 {
        let friend = bot.app.sign_up(&format!("friend{n:02}")).await;
        bot.app.befriend(&sam, &friend).await;
    }
    bot.link("psam", &sam).await;

    bot.say("psam", "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC")
        .await;
    let question = bot.sent_to("psam").last().unwrap().clone();
    let choices = question["message"]["quick_replies"].as_array().unwrap();
    assert_eq!(choices.len(), 13, "{question}");
    assert!(
        choices
            .iter()
            .all(|c| c["payload"].as_str().unwrap().starts_with("SEND:friend")),
        "{question}"
    );
}

#[tokio::test]
async fn friends_add_inbox_stats_now_and_stop() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    bot.link("psam", &sam).await;

    assert_eq!(
        bot.say("psam", "add alex").await,
        vec!["Friend request sent to @alex.".to_owned()]
    );
    bot.app
        .graphql(
            "mutation { addFriend(handle: \"sam\") { status } }",
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(bot.say("psam", "FRIENDS").await, vec!["Your friends: @alex".to_owned()]);
    assert_eq!(
        bot.say("psam", "inbox").await,
        vec!["Nothing waiting: you've played everything friends sent you.".to_owned()]
    );
    crate::shares::share(&bot.app, &alex, "sam", TRACK).await;
    let inbox = bot.say("psam", "inbox").await;
    let answer = inbox
        .iter()
        .find(|t| t.starts_with("Songs waiting for you:"))
        .expect("the inbox");
    assert!(
        answer.starts_with("Songs waiting for you:\n• “") && answer.contains("from @alex"),
        "{inbox:?}"
    );
    assert!(
        inbox.iter().any(|t| t.starts_with("alex sent you “")),
        "the share's own notice came too"
    );
    let stats = bot.say("psam", "stats").await;
    assert_eq!(
        stats,
        vec!["You've sent 0 songs; 0 were played. Friends sent you 1.".to_owned()]
    );
    let now = bot.say("psam", "now alex").await;
    assert_eq!(now, vec!["alex hasn't connected Spotify yet".to_owned()]);
    let stranger = bot.say("psam", "now nobody").await;
    assert!(stranger[0].contains("I don't know anyone called @nobody"));
    let help = bot.say("psam", "what?").await;
    assert!(help[0].starts_with("Here's what I can do:"), "{help:?}");

    let stop = bot.say("psam", "stop").await;
    assert!(
        stop[0].starts_with("Done: this chat is no longer linked to @sam"),
        "{stop:?}"
    );
    let me = bot
        .app
        .graphql("{ me { messengerLinked } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(me["data"]["me"]["messengerLinked"], false);
    let after = bot.say("psam", "friends").await;
    assert!(
        after[0].starts_with("That needs a linked chat. Connect your Spotify to start"),
        "unlinked again, greeted already: {after:?}"
    );
}

#[tokio::test]
async fn every_message_refreshes_the_24_hour_window() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    bot.link("psam", &sam).await;
    bot.app.advance(Duration::from_secs(20 * 3600));
    bot.say("psam", "help").await;
    bot.app.advance(Duration::from_secs(20 * 3600));
    // 40 h after linking but 20 h after the last message: still inside.
    let sam_id: uuid::Uuid = sam.user_id.parse().unwrap();
    let notice = api::notify::Notice {
        user_id: sam_id,
        kind: entity::deliveries::EventKind::RelinkRequired,
        event_id: uuid::Uuid::now_v7(),
        share_id: None,
    };
    let db = bot.app.db().await;
    bot.app
        .state
        .notify
        .fan_out(&db, notice, api::clock::Clock::now(bot.app.clock.as_ref()))
        .await
        .unwrap();
    let sent = bot.handled("psam").await;
    assert_eq!(sent.len(), 1, "sent inside the window");
    assert_eq!(bot.sent_to("psam").last().unwrap()["messaging_type"], "UPDATE");
}

#[tokio::test]
async fn the_get_started_postback_is_answered() {
    let bot = bot().await;
    bot.get_started("pnew", "m_pb").await;
    let replies = bot.handled("pnew").await;
    assert!(replies[0].starts_with("Hi! I'm Send Songs"), "{replies:?}");
}

#[tokio::test]
async fn the_bot_says_it_is_automated_when_it_greets_and_after_a_month_of_silence() {
    let bot = bot().await;
    let automated = |replies: &[String]| replies.iter().filter(|r| r.contains("automated assistant")).count();
    let hello = bot.say("pnew", "hey there").await;
    assert_eq!(automated(&hello), 1, "the greeting says it: {hello:?}");

    let sam = bot.app.sign_up("sam").await;
    let code = bot.link_code(&sam).await;
    let first = bot.say("psam", &code).await;
    assert!(first[0].starts_with("Hi! I'm Send Songs"), "{first:?}");
    assert!(first[1].starts_with("You're linked as @sam"), "{first:?}");
    assert_eq!(automated(&first), 1, "a first conversation starts with it: {first:?}");
    assert_eq!(automated(&bot.say("psam", "friends").await), 0);
    bot.app.advance(Duration::from_secs(29 * 24 * 3600));
    assert_eq!(automated(&bot.say("psam", "friends").await), 0, "29 days is no silence");
    bot.app.advance(Duration::from_secs(31 * 24 * 3600));
    let after = bot.say("psam", "friends").await;
    assert!(after[0].starts_with("No friends yet"), "{after:?}");
    assert_eq!(automated(&after), 1, "after a month: {after:?}");
    assert_eq!(automated(&bot.say("psam", "stats").await), 0);

    bot.get_started("psam", "m_gs_again").await;
    let welcome_back = bot.handled("psam").await;
    assert!(welcome_back[0].starts_with("Welcome back, @sam!"), "{welcome_back:?}");
    assert_eq!(automated(&welcome_back), 1, "{welcome_back:?}");
}
