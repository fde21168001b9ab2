//! Reactions and replies to shares through the running app: from GraphQL
//! (`reactToShare`, `replyToShare`: who may, what an emoji and a reply may
//! be) and from Messenger (Meta-shaped `message_reactions` events and
//! replies to the page's message about a share, in one POST with other
//! events, out of order, late and twice), told live (`shareActivity`
//! REACTED, REPLIED) and delivered by push and Messenger through the
//! delivery log.
use api::clock::Clock as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Session, Subscription, TestApp, error_code, relog},
    messenger::{Bot, bot, page_body, sign, text_event},
    notifications::{deliveries, of_kind, receipt, world},
    shares::{TRACK, share},
};

const ANSWERS: &str = "subscription { shareActivity { kind at share { id \
    reactions { user { handle } emoji at } replies { user { handle } text at } } } }";
const REACT: &str =
    "mutation($id: ID!, $e: String) { reactToShare(id: $id, emoji: $e) { id reactions { user { handle } emoji } } }";
const REPLY: &str =
    "mutation($id: ID!, $t: String!) { replyToShare(id: $id, text: $t) { id replies { user { handle } text } } }";
const ANSWERED: &str =
    "query($id: ID!) { share(id: $id) { reactions { user { handle } emoji } replies { user { handle } text } } }";

async fn react(app: &TestApp, who: &Session, id: &Value, emoji: Option<&str>) -> Value {
    app.graphql(REACT, json!({ "id": id, "e": emoji }), Some(&relog(app, who).await))
        .await
}

async fn reply(app: &TestApp, who: &Session, id: &Value, text: &str) -> Value {
    app.graphql(REPLY, json!({ "id": id, "t": text }), Some(&relog(app, who).await))
        .await
}

/// The share's reactions and replies as `who` sees them.
async fn answered(app: &TestApp, who: &Session, id: &Value) -> Value {
    app.graphql(ANSWERED, json!({ "id": id }), Some(&relog(app, who).await))
        .await["data"]["share"]
        .clone()
}

/// The next `shareActivity` event.
async fn activity(subscription: &mut Subscription) -> Value {
    let event = subscription.next().await.expect("a shareActivity event");
    assert!(event["errors"].is_null(), "{event}");
    event["data"]["shareActivity"].clone()
}

/// (handle, `field`) of each item of the share's `list`.
fn by_whom(share: &Value, list: &str, field: &str) -> Vec<(String, String)> {
    share[list]
        .as_array()
        .unwrap_or_else(|| panic!("{share}"))
        .iter()
        .map(|item| {
            (
                item["user"]["handle"].as_str().unwrap().to_owned(),
                item[field].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn emojis(share: &Value) -> Vec<(String, String)> {
    by_whom(share, "reactions", "emoji")
}

fn texts(share: &Value) -> Vec<(String, String)> {
    by_whom(share, "replies", "text")
}

fn pair_of(handle: &str, what: &str) -> (String, String) {
    (handle.to_owned(), what.to_owned())
}

#[tokio::test]
async fn the_recipient_reacts_and_replies_in_the_app_and_the_sender_hears_live_by_push_and_on_messenger() {
    let world = world(&["ok-sam"], Some("sam-psid")).await;
    let (app, sam, alex) = (&world.app, &world.sam, &world.alex);
    let mut sams = app.subscribe(Some(&sam.access), ANSWERS).await;
    let mut alexs = app.subscribe(Some(&alex.access), ANSWERS).await;
    let id = share(app, sam, "alex", TRACK).await["id"].clone();

    let first = react(app, alex, &id, Some("👍🏽")).await;
    assert_eq!(
        emojis(&first["data"]["reactToShare"]),
        [pair_of("alex", "👍🏽")],
        "{first}"
    );
    for subscription in [&mut sams, &mut alexs] {
        let event = activity(subscription).await;
        assert_eq!(event["kind"], "REACTED", "{event}");
        assert_eq!(emojis(&event["share"]), [pair_of("alex", "👍🏽")]);
    }
    // A second reaction replaces the first.
    let family = react(app, alex, &id, Some("👨‍👩‍👧")).await;
    assert_eq!(
        emojis(&family["data"]["reactToShare"]),
        [pair_of("alex", "👨‍👩‍👧")],
        "{family}"
    );
    assert_eq!(activity(&mut sams).await["kind"], "REACTED");
    let replied = reply(app, alex, &id, "  this one is on repeat  ").await;
    assert_eq!(
        texts(&replied["data"]["replyToShare"]),
        [pair_of("alex", "this one is on repeat")],
        "{replied}"
    );
    let event = activity(&mut sams).await;
    assert_eq!(event["kind"], "REPLIED", "{event}");
    assert_eq!(texts(&event["share"]), [pair_of("alex", "this one is on repeat")]);

    app.run_due_jobs().await;
    let log = deliveries(app, sam).await;
    let reacted = of_kind(&log, "share_reacted");
    let replies = of_kind(&log, "share_replied");
    assert_eq!(reacted.len(), 4, "two reactions, by push and on Messenger: {log:?}");
    assert_eq!(replies.len(), 2, "{log:?}");
    assert!(reacted.iter().chain(&replies).all(|d| d["status"] == "SENT"), "{log:?}");
    {
        let fakes = world.fakes.lock().unwrap();
        let messages: Vec<&str> = fakes
            .messages
            .iter()
            .filter(|(psid, _)| psid == "sam-psid")
            .filter_map(|(_, body)| body["message"]["text"].as_str())
            .collect();
        assert!(
            messages.iter().any(|t| t.starts_with("alex reacted 👍🏽 to ")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|t| t.starts_with("alex replied about ") && t.contains("“this one is on repeat”")),
            "{messages:?}"
        );
        let titles: Vec<&str> = fakes
            .pushes
            .iter()
            .filter_map(|(_, body)| body["message"]["notification"]["title"].as_str())
            .collect();
        assert!(titles.contains(&"alex reacted 👨‍👩‍👧"), "{titles:?}");
    }

    // Taking it back: both see it live; nobody is notified of that.
    let removed = react(app, alex, &id, None).await;
    assert!(emojis(&removed["data"]["reactToShare"]).is_empty(), "{removed}");
    let event = activity(&mut sams).await;
    assert_eq!(
        (event["kind"].as_str(), emojis(&event["share"]).len()),
        (Some("REACTED"), 0)
    );
    app.run_due_jobs().await;
    assert_eq!(
        deliveries(app, sam).await.len(),
        log.len(),
        "no notice of a reaction taken back"
    );

    // The sender answers only a played share; nobody else at all.
    let early = react(app, sam, &id, Some("🙏")).await;
    assert_eq!(error_code(&early), Some("CONFLICT"), "{early}");
    let ben = app.sign_up("ben").await;
    app.befriend(&ben, sam).await;
    for stranger in [
        react(app, &ben, &id, Some("👀")).await,
        reply(app, &ben, &id, "hi").await,
    ] {
        assert_eq!(error_code(&stranger), Some("NOT_FOUND"), "{stranger}");
    }
    assert!(answered(app, &ben, &id).await.is_null(), "others do not see it");
    assert_eq!(
        texts(&answered(app, sam, &id).await),
        [pair_of("alex", "this one is on repeat")],
        "what the stranger tried changed nothing"
    );

    let played = receipt(&world).await;
    let thanks = react(app, sam, &played, Some("🙌")).await;
    assert_eq!(
        emojis(&thanks["data"]["reactToShare"]),
        [pair_of("sam", "🙌")],
        "{thanks}"
    );
    assert_eq!(emojis(&answered(app, alex, &played).await), [pair_of("sam", "🙌")]);
}

#[tokio::test]
async fn a_reaction_is_one_emoji_and_a_reply_at_most_280_characters() {
    let world = world(&[], None).await;
    let (app, sam, alex) = (&world.app, &world.sam, &world.alex);
    let id = share(app, sam, "alex", TRACK).await["id"].clone();
    for (emoji, stored) in [("👍🏽", "👍🏽"), ("👨‍👩‍👧", "👨‍👩‍👧"), ("❤", "❤️")] {
        let body = react(app, alex, &id, Some(emoji)).await;
        assert_eq!(
            emojis(&body["data"]["reactToShare"]),
            [pair_of("alex", stored)],
            "{body}"
        );
    }
    for refused in ["ab", "👍👍", "", "a", "👍 x"] {
        let body = react(app, alex, &id, Some(refused)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{refused:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "emoji", "{body}");
    }
    let longest = "é".repeat(280);
    for refused in [String::new(), "   ".into(), "é".repeat(281), "ding\u{7}".into()] {
        let body = reply(app, alex, &id, &refused).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    }
    let ok = reply(app, alex, &id, &longest).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let share = answered(app, sam, &id).await;
    assert_eq!(emojis(&share), [pair_of("alex", "❤️")], "refusals changed nothing");
    assert_eq!(texts(&share), [pair_of("alex", &longest)]);
    let unknown = react(app, alex, &json!("not-an-id"), Some("👍")).await;
    assert_eq!(error_code(&unknown), Some("BAD_USER_INPUT"), "{unknown}");
}

/// A `message_reactions` event as Meta sends it.
fn reaction(psid: &str, mid: &str, action: &str, emoji: Option<&str>, timestamp: i64) -> Value {
    let mut reaction = json!({ "action": action, "mid": mid });
    if let Some(emoji) = emoji {
        reaction["emoji"] = json!(emoji);
        reaction["reaction"] = json!("other");
    }
    json!({ "sender": { "id": psid }, "recipient": { "id": "1234567890" }, "timestamp": timestamp,
            "reaction": reaction })
}

/// A reply to the page's message `to`, as Meta sends it.
fn reply_event(psid: &str, mid: &str, to: &str, text: &str, timestamp: i64) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": "1234567890" }, "timestamp": timestamp,
            "message": { "mid": mid, "text": text, "reply_to": { "mid": to, "is_self_reply": false } } })
}

impl Bot {
    async fn post_events(&self, entries: Vec<Vec<Value>>) {
        let body = page_body(entries);
        assert_eq!(self.post(&body, Some(&sign(&body))).await.status(), StatusCode::OK);
        self.app.run_due_jobs().await;
    }

    /// The Send API's `message_id` of the first message to `psid` that
    /// starts with `start` (the fake numbers them in order).
    fn mid_of(&self, psid: &str, start: &str) -> String {
        let fakes = self.fakes.lock().unwrap();
        let at = fakes
            .messages
            .iter()
            .position(|(p, body)| p == psid && body["message"]["text"].as_str().unwrap_or("").starts_with(start))
            .unwrap_or_else(|| panic!("no message to {psid} starting {start:?}"));
        format!("m_fake{}", at + 1)
    }
}

#[tokio::test]
async fn reactions_and_replies_in_messenger_answer_the_share_in_any_order_and_once() {
    let bot = bot().await;
    let app = &bot.app;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    bot.link("psam", &sam).await;
    bot.link("palex", &alex).await;
    let mut sams = app.subscribe(Some(&sam.access), ANSWERS).await;
    let id = share(app, &sam, "alex", TRACK).await["id"].clone();
    app.run_due_jobs().await;
    let notice = bot.mid_of("palex", "sam sent you");
    let other = bot.mid_of("palex", "You're linked as @alex");
    let t = app.clock.now().timestamp_millis() - 60_000;

    // One POST: Sam's command, Alex's reaction taken back before (in the
    // body) the reaction itself, a reaction to a message about no share,
    // and a reply; in two entries.
    bot.post_events(vec![
        vec![
            text_event("psam", "m_sam_help", "help", t),
            reaction("palex", &notice, "unreact", None, t + 3_000),
            reaction("palex", &notice, "react", Some("😂"), t + 1_000),
        ],
        vec![
            reaction("palex", &other, "react", Some("👍"), t + 2_000),
            reply_event("palex", "m_alex_reply", &notice, "on repeat all day", t + 4_000),
        ],
    ])
    .await;
    let seen = answered(app, &sam, &id).await;
    assert!(emojis(&seen).is_empty(), "taken back after: {seen}");
    assert_eq!(texts(&seen), [pair_of("alex", "on repeat all day")]);
    let kinds: Vec<Value> = [
        activity(&mut sams).await,
        activity(&mut sams).await,
        activity(&mut sams).await,
    ]
    .iter()
    .map(|event| event["kind"].clone())
    .collect();
    assert_eq!(kinds, ["REACTED", "REACTED", "REPLIED"], "in Meta's order");
    assert_eq!(
        bot.sent_to("palex")
            .iter()
            .filter_map(|b| b["message"]["text"].as_str())
            .filter(|t| t.starts_with("Sent your reply to @sam."))
            .count(),
        1
    );
    assert!(
        bot.sent_to("psam").iter().any(|b| b["message"]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Here's what I can do:")),
        "the other event of the POST was answered"
    );

    // A reaction older than its taking back arrives late; the POST again.
    bot.post_events(vec![vec![reaction("palex", &notice, "react", Some("❤️"), t + 2_000)]])
        .await;
    bot.post_events(vec![vec![reply_event(
        "palex",
        "m_alex_reply",
        &notice,
        "on repeat all day",
        t + 4_000,
    )]])
    .await;
    let seen = answered(app, &sam, &id).await;
    assert!(emojis(&seen).is_empty(), "the late reaction does not win: {seen}");
    assert_eq!(texts(&seen).len(), 1, "the redelivered reply is not a second one");
    assert!(sams.next_within(std::time::Duration::from_millis(300)).await.is_none());

    bot.post_events(vec![vec![reaction("palex", &notice, "react", Some("❤"), t + 5_000)]])
        .await;
    assert_eq!(emojis(&answered(app, &alex, &id).await), [pair_of("alex", "❤️")]);
    assert_eq!(activity(&mut sams).await["kind"], "REACTED");

    // Sam heard each on Messenger; his reaction to that message is his
    // answer, refused while the share is not played yet.
    let log = deliveries(app, &sam).await;
    assert_eq!(of_kind(&log, "share_reacted").len(), 2, "😂 and ❤️: {log:?}");
    assert_eq!(of_kind(&log, "share_replied").len(), 1, "{log:?}");
    let told = bot.mid_of("psam", "alex replied about ");
    bot.post_events(vec![vec![reaction("psam", &told, "react", Some("🙏"), t + 6_000)]])
        .await;
    assert_eq!(emojis(&answered(app, &sam, &id).await), [pair_of("alex", "❤️")]);
    // Someone else reacting to Alex's message: not theirs, ignored.
    bot.post_events(vec![vec![reaction("psam", &notice, "react", Some("🙏"), t + 7_000)]])
        .await;
    assert_eq!(emojis(&answered(app, &sam, &id).await), [pair_of("alex", "❤️")]);

    // The inbox shows what friends answered.
    let inbox = bot.say("psam", "inbox").await;
    assert!(
        inbox
            .iter()
            .any(|t| t.contains("@alex reacted ❤️ to") && t.contains("@alex replied about")),
        "{inbox:?}"
    );
}
