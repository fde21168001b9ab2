//! What a person hears first, and what the bot answers to anything that is
//! not text: the greeting comes once per conversation, before any other
//! answer (one event, a batch, parallel POSTs, two replicas), help fits a
//! chat that is not linked yet, and every attachment shape Meta documents
//! gets an answer saying what to send instead (a Spotify track link in any
//! of them is shared like a typed one).
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{TestApp, on_postgres, spawn_app_with, spawn_replica},
    messenger::{self, messenger_settings, page_body, sign, text_event},
    sandbox_messenger::{self, linked_as_sam as linked, send, texts},
};

const GREETING: &str = "Hi! I'm Send Songs 🎵, an automated assistant";
const UNLINKED_HELP: &str = "This chat isn't linked to Send Songs yet, so first:";
const FIRST_STEPS: &str = "Connect your Spotify to start: ";

fn greetings(said: &[String]) -> usize {
    said.iter().filter(|text| text.starts_with(GREETING)).count()
}

#[tokio::test]
async fn a_new_persons_help_comes_after_the_greeting_and_says_what_they_can_do_now() {
    let bot = messenger::bot().await;

    let first = bot.say("pnew", "help").await;

    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].starts_with(GREETING), "the greeting first: {first:?}");
    assert!(first[1].starts_with(UNLINKED_HELP), "{first:?}");
    assert!(
        first[1].contains("/auth/spotify/start?m="),
        "a link to connect: {first:?}"
    );
    assert!(first[1].contains("16 digits"), "or a link code: {first:?}");
    assert!(
        !first[1].contains("inbox: songs friends sent you"),
        "not the commands of a linked chat: {first:?}"
    );

    // Once: later answers come without it.
    let again = bot.say("pnew", "HELP").await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].starts_with(UNLINKED_HELP), "{again:?}");
    let other = bot.say("pnew", "what is this").await;
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].starts_with(FIRST_STEPS), "{other:?}");
    let friends = bot.say("pnew", "friends").await;
    assert!(
        friends[0].starts_with("That needs a linked chat. Connect your Spotify"),
        "{friends:?}"
    );
}

#[tokio::test]
async fn get_started_from_someone_new_is_the_greeting_then_the_first_steps_once() {
    let bot = messenger::bot().await;
    bot.get_started("pnew", "m_gs_1").await;
    let first = bot.handled("pnew").await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].starts_with(GREETING), "{first:?}");
    assert!(first[1].starts_with(FIRST_STEPS), "{first:?}");

    bot.get_started("pnew", "m_gs_2").await;
    let again = bot.handled("pnew").await;
    assert_eq!(greetings(&again), 0, "{again:?}");
}

#[tokio::test]
async fn a_new_persons_first_events_in_one_batch_get_one_greeting_first() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;

    // Meta's mixed batch: a "help" and a shared Spotify link from the
    // same (new) person, among events of no use.
    let (status, body) = send(&app, json!({ "psid": "fresh", "events": ["batch_mixed_events"] })).await;

    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let said = conversation(&app, "fresh").await;
    assert_eq!(greetings(&said), 1, "{said:?}");
    assert!(said[0].starts_with(GREETING), "{said:?}");
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[1].starts_with(UNLINKED_HELP), "{said:?}");
    assert!(
        said[2].starts_with("To share songs, connect first. Connect your Spotify"),
        "{said:?}"
    );
}

#[tokio::test]
async fn a_new_persons_events_in_parallel_posts_get_one_greeting_first() {
    let bot = messenger::bot().await;
    // Another replica's workers answer too, on a database they share.
    let replica = match on_postgres() {
        true => Some(spawn_replica(&bot.app, &messenger_settings(&bot.graph)).await),
        false => None,
    };
    let texts = ["hi", "help", "friends", "what?", "stats", "inbox", "hello", "?"];
    let bodies: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(n, text)| {
            let ms = 1_800_000_000_000 + n as i64;
            page_body(vec![vec![text_event("pnew", &format!("m_parallel_{n}"), text, ms)]])
        })
        .collect();

    let signatures: Vec<String> = bodies.iter().map(|body| sign(body)).collect();
    let posted = join_all(
        bodies
            .iter()
            .zip(&signatures)
            .map(|(body, signature)| bot.post(body, Some(signature))),
    )
    .await;
    for response in posted {
        assert_eq!(response.status(), StatusCode::OK);
    }
    match &replica {
        Some(replica) => {
            futures_util::join!(bot.app.run_due_jobs(), replica.run_due_jobs());
        }
        None => {
            bot.app.run_due_jobs().await;
        }
    }
    bot.app.run_due_jobs().await;

    let said: Vec<String> = bot
        .sent_to("pnew")
        .iter()
        .map(|m| m["message"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(greetings(&said), 1, "{said:?}");
    assert!(said[0].starts_with(GREETING), "{said:?}");
    assert_eq!(said.len(), texts.len() + 1, "each answered once: {said:?}");
}

/// Every attachment shape, and the start of its answer.
const ATTACHMENTS: &[(&str, &str)] = &[
    ("message_attachment_image", "I can't do anything with a photo:"),
    ("message_attachment_audio", "I can't do anything with an audio clip:"),
    ("message_attachment_video", "I can't do anything with a video:"),
    ("message_attachment_file", "I can't do anything with a file:"),
    (
        "message_attachments_multiple",
        "I can't do anything with a photo and a video:",
    ),
    ("message_sticker", "I can't do anything with a sticker:"),
    ("message_sticker_legacy_image", "I can't do anything with a sticker:"),
    (
        "message_sticker_transition_sticker_and_image",
        "I can't do anything with a sticker:",
    ),
    ("message_attachment_location", "I can't do anything with a location:"),
    ("message_attachment_template", "I can't do anything with a card:"),
    ("message_attachment_reel", "I can't do anything with a reel:"),
    ("message_attachment_ig_reel", "I can't do anything with a reel:"),
    (
        "message_attachment_story_mention",
        "I can't do anything with a story mention:",
    ),
    ("message_attachment_product", "I can't do anything with a product:"),
    ("message_attachment_post", "That isn't a Spotify track link"),
    ("message_fallback_without_payload", "That isn't a Spotify track link"),
];

#[tokio::test]
async fn every_attachment_shape_is_answered_with_what_to_send_instead() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    linked(&app, "shapes").await;

    for (shape, answer) in ATTACHMENTS {
        let before = conversation(&app, "shapes").await.len();
        let (status, body) = send(&app, json!({ "psid": "shapes", "events": [shape] })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{shape}: {body}");

        let said = conversation(&app, "shapes").await[before..].to_vec();
        assert_eq!(said.len(), 1, "{shape}: {said:?}");
        assert!(said[0].starts_with(answer), "{shape}: {said:?}");
        assert!(said[0].contains("paste its Spotify link"), "{shape}: {said:?}");
    }
}

#[tokio::test]
async fn a_spotify_track_in_a_card_is_shared_like_a_typed_link_and_other_links_are_explained() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    linked(&app, "cards").await;
    let no_friends = "You haven't added any friends yet: send `add <handle>` first, then the link again.";

    let before = conversation(&app, "cards").await.len();
    send(
        &app,
        json!({ "psid": "cards", "events": ["message_attachment_template_spotify_track"] }),
    )
    .await;
    assert_eq!(conversation(&app, "cards").await[before..], [no_friends]);

    // A link elsewhere, shared as the Spotify link is (a fallback behind
    // Facebook's redirector), is answered, as the same URL typed is.
    let before = conversation(&app, "cards").await.len();
    send(&app, json!({ "psid": "cards", "link": "https://example.com/playlist" })).await;
    let said = conversation(&app, "cards").await[before..].to_vec();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("That isn't a Spotify track link"), "{said:?}");
    let before = conversation(&app, "cards").await.len();
    send(&app, json!({ "psid": "cards", "text": "https://example.com/playlist" })).await;
    assert_eq!(conversation(&app, "cards").await[before..], said);
}

#[tokio::test]
async fn an_attachment_from_someone_new_is_greeted_then_explained_with_the_first_steps_in_one_answer() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    send(
        &app,
        json!({ "psid": "newbie", "events": ["message_attachment_image"] }),
    )
    .await;
    let said = conversation(&app, "newbie").await;
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].starts_with(GREETING), "{said:?}");
    assert!(said[1].starts_with("I can't do anything with a photo:"), "{said:?}");
    assert!(said[1].contains("paste a Spotify track link"), "what to send: {said:?}");
    assert!(said[1].contains(FIRST_STEPS), "how to connect: {said:?}");
    assert!(said[1].contains("/auth/spotify/start?m="), "{said:?}");
}

#[tokio::test]
async fn a_new_persons_first_batch_gets_the_greeting_and_one_answer_per_message_in_order() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    // `message_text` is a "help".
    let shapes = [
        "message_attachment_image",
        "message_sticker",
        "message_attachment_location",
        "message_attachment_audio",
        "message_attachment_video",
        "message_attachment_file",
        "message_text",
    ];
    let (status, body) = send(&app, json!({ "psid": "batch", "events": shapes })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let said = conversation(&app, "batch").await;
    assert_eq!(said.len(), shapes.len() + 1, "{said:?}");
    assert!(said[0].starts_with(GREETING), "{said:?}");
    for answer in &said[1..] {
        let links = answer.matches("/auth/spotify/start?m=").count();
        assert_eq!(links, 1, "each says how to connect, once: {said:?}");
    }
    // Answered in the order sent.
    let openings = [
        "I can't do anything with a photo:",
        "I can't do anything with a sticker:",
        "I can't do anything with a location:",
        "I can't do anything with an audio clip:",
        "I can't do anything with a video:",
        "I can't do anything with a file:",
        UNLINKED_HELP,
    ];
    for (answer, opening) in said[1..].iter().zip(openings) {
        assert!(answer.starts_with(opening), "{opening}: {said:?}");
    }
}

#[tokio::test]
async fn a_link_elsewhere_from_someone_new_is_explained_with_the_first_steps() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let youtube = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";
    send(&app, json!({ "psid": "tuber", "text": youtube })).await;

    let said = conversation(&app, "tuber").await;
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[1].starts_with("That isn't a Spotify track link"), "{said:?}");
    assert!(said[1].contains(FIRST_STEPS), "{said:?}");

    // A greeting typed is not a link: only the first steps.
    send(&app, json!({ "psid": "tuber", "text": "hello?" })).await;
    let said = conversation(&app, "tuber").await;
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[2].starts_with(FIRST_STEPS), "{said:?}");
}

/// What the bot sent `psid`, oldest first (`GET /sandbox/outbox?psid=…`).
async fn conversation(app: &TestApp, psid: &str) -> Vec<String> {
    texts(&sandbox_messenger::conversation(app, psid).await)
}
