//! One-tap linking from Messenger's own links: the Spotify page offers an
//! m.me link carrying the link code as its `ref`, and the bot links the
//! sender when Messenger hands it that `ref` (a `referral` event in an
//! existing conversation, the Get Started postback's `referral` in a new
//! one), exactly as if the code had been typed: the same expiry, single
//! use and wrong-code limit.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{Session, relog},
    messenger::{Bot, bot, bot_with},
};

const PAGE_ID: &str = "104872931258841";

/// Messenger's `referral` event: `psid` opened the conversation through
/// an m.me link with `reference` as its `ref`.
fn referral(psid: &str, reference: &str, ms: i64) -> String {
    json!({ "object": "page", "entry": [{ "id": PAGE_ID, "time": ms, "messaging": [{
        "sender": { "id": psid }, "recipient": { "id": PAGE_ID }, "timestamp": ms,
        "referral": { "ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD" } }] }] })
    .to_string()
}

/// A new conversation: the Get Started postback with the link's `ref`.
fn get_started(psid: &str, reference: &str, ms: i64) -> String {
    json!({ "object": "page", "entry": [{ "id": PAGE_ID, "time": ms, "messaging": [{
        "sender": { "id": psid }, "recipient": { "id": PAGE_ID }, "timestamp": ms,
        "postback": { "title": "Get Started", "payload": "GET_STARTED", "mid": format!("m_gs_{psid}_{ms}"),
            "referral": { "ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD" } } }] }] })
    .to_string()
}

fn now_ms(bot: &Bot) -> i64 {
    api::clock::Clock::now(bot.app.clock.as_ref()).timestamp_millis()
}

/// A link code of `session`'s account, signed in again (access tokens
/// last 15 minutes, and the clock moves in these tests).
async fn code_of(bot: &Bot, session: &Session) -> String {
    let fresh = Session {
        access: relog(&bot.app, session).await,
        ..session.clone()
    };
    bot.link_code(&fresh).await
}

/// Everything between `before` and the next `after` in `text`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text.find(before).unwrap_or_else(|| panic!("{before} in {text}")) + before.len();
    let end = text[start..].find(after).unwrap_or_else(|| panic!("{after} in {text}"));
    &text[start..start + end]
}

#[tokio::test]
async fn the_spotify_page_opens_messenger_with_the_code_and_the_bot_links_the_sender() {
    let bot = bot_with(&[("MESSENGER_PAGE_ID", "sendsongs")]).await;
    let start = bot
        .app
        .location(&format!("{}/auth/spotify/start", bot.app.address))
        .await;
    let response = bot
        .app
        .client
        .get(format!("{start}&sandbox_account=newbie"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();

    // The button: the page in Messenger, the code as the link's ref.
    let code = between(&page, "href=\"https://m.me/sendsongs?ref=", "\"").to_owned();
    assert_eq!(code.len(), 16, "{page}");
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    // The copy button, and its script allowed by this response's nonce only.
    assert_eq!(between(&page, "data-code=\"", "\""), code);
    let nonce = between(&page, "<script nonce=\"", "\"");
    assert!(policy.contains(&format!("script-src 'nonce-{nonce}'")), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert_eq!(page.matches("<script").count(), 1, "no other script");
    assert_eq!(between(&page, "<style nonce=\"", "\""), nonce);

    // Messenger hands the ref to the bot: linked, as if typed.
    assert_eq!(
        bot.post_signed(&referral("p-newbie", &code, now_ms(&bot))).await,
        StatusCode::OK
    );
    let replies = bot.handled("p-newbie").await;
    assert!(
        replies[0].starts_with("Hi! I'm Send Songs"),
        "greeted first: {replies:?}"
    );
    assert!(replies[1].starts_with("You're linked as @newbie"), "{replies:?}");
    let friends = bot.say("p-newbie", "friends").await;
    assert_eq!(
        friends,
        vec!["No friends yet: send `add <handle>` to ask someone.".to_owned()]
    );

    // Single use: the same link opened by someone else links nobody.
    assert_eq!(
        bot.post_signed(&get_started("p-other", &code, now_ms(&bot))).await,
        StatusCode::OK
    );
    let again = bot.handled("p-other").await;
    assert!(again[0].starts_with("Hi! I'm Send Songs"), "greeted first: {again:?}");
    assert!(again[1].starts_with("That code doesn't work"), "{again:?}");
}

#[tokio::test]
async fn without_a_page_id_the_page_shows_the_code_and_no_messenger_button() {
    let bot = bot().await;
    let (status, page) = bot.app.browse(&format!("{}/auth/spotify/start", bot.app.address)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("m.me/"), "{page}");
    assert!(page.contains("id=\"copy\""), "{page}");
    assert!(page.contains("class=\"code\""), "{page}");
}

#[tokio::test]
async fn a_get_started_ref_links_a_new_conversation_with_the_same_expiry_and_limit() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;

    let code = code_of(&bot, &sam).await;
    assert_eq!(
        bot.post_signed(&get_started("p-sam", &code, now_ms(&bot))).await,
        StatusCode::OK
    );
    let linked = bot.handled("p-sam").await;
    assert!(linked[0].starts_with("Hi! I'm Send Songs"), "greeted first: {linked:?}");
    assert!(linked[1].starts_with("You're linked as @sam"), "{linked:?}");
    let me = bot
        .app
        .graphql("{ me { messengerLinked } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(me["data"]["me"]["messengerLinked"], true);

    // A code 31 minutes old has expired, as a typed one does.
    let stale = code_of(&bot, &sam).await;
    bot.app.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        bot.post_signed(&referral("p-late", &stale, now_ms(&bot))).await,
        StatusCode::OK
    );
    let expired = bot.handled("p-late").await;
    assert!(
        expired[0].starts_with("Hi! I'm Send Songs"),
        "greeted first: {expired:?}"
    );
    assert!(expired[1].starts_with("That code doesn't work"), "{expired:?}");

    // Wrong refs and typed codes count together: five wrong ones in an
    // hour, and a right one is no longer looked at.
    for n in 0..3 {
        let wrong = referral("p-guess", &format!("{n:016}"), now_ms(&bot) + n);
        bot.post_signed(&wrong).await;
    }
    bot.handled("p-guess").await;
    bot.say("p-guess", &format!("{:016}", 7)).await;
    bot.say("p-guess", &format!("{:016}", 8)).await;
    let right = code_of(&bot, &sam).await;
    bot.post_signed(&referral("p-guess", &right, now_ms(&bot) + 10)).await;
    let refused = bot.handled("p-guess").await;
    assert!(refused[0].contains("too many wrong codes"), "{refused:?}");

    // A ref that is no code (an ad, a widget) links nobody and says nothing.
    bot.post_signed(&referral("p-ad", "autumn-launch", now_ms(&bot))).await;
    assert!(bot.handled("p-ad").await.is_empty());
}
