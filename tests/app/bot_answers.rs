//! The bot's open question "to whom?" answered by typing, through the
//! signed webhook: a handle with or without `@`, `to <handle>`, a display
//! name in any case, a number from the list; an unclear answer asks again
//! with the list; a command typed instead runs as the command; the
//! question still expires.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::Session,
    messenger::{Bot, bot},
};

/// Sam, linked as `psam`, with two friends: `alex` ("Alex Rivera") and `kim`.
async fn sam_with_friends() -> (Bot, Session) {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let alex = bot.app.sign_up("alex").await;
    let kim = bot.app.sign_up("kim").await;
    let renamed = bot
        .app
        .graphql(
            r#"mutation { updateSettings(input: { displayName: "Alex Rivera" }) { displayName } }"#,
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(
        renamed["data"]["updateSettings"]["displayName"], "Alex Rivera",
        "{renamed}"
    );
    bot.app.befriend(&sam, &alex).await;
    bot.app.befriend(&sam, &kim).await;
    bot.link("psam", &sam).await;
    (bot, sam)
}

/// Sam pastes a bare link to track `n`; answers the question's body.
async fn ask(bot: &Bot, n: u32) -> Value {
    bot.say("psam", &format!("spotify:track:{n:022}")).await;
    let question = bot.sent_to("psam").last().unwrap().clone();
    let text = question["message"]["text"].as_str().unwrap();
    assert!(text.starts_with("Who should get “"), "{question}");
    question
}

/// The numbers the question's list gives Alex and Kim.
fn numbers(question: &str) -> (String, String) {
    let (_, list) = question
        .split_once("Tap a friend, or write their number or handle:\n")
        .unwrap_or_else(|| panic!("{question}"));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{question}");
    let number = |line: &str| {
        lines
            .iter()
            .find(|l| l.ends_with(line))
            .and_then(|l| l.split_once(". "))
            .map(|(n, _)| n.to_owned())
            .unwrap_or_else(|| panic!("{line} in {question}"))
    };
    (number("@alex (Alex Rivera)"), number("@kim (kim)"))
}

/// The handles of the people Sam's shares went to, newest first.
async fn recipients(bot: &Bot, sam: &Session) -> Vec<String> {
    let body = bot
        .app
        .graphql(
            "{ shares(box: SENT) { edges { node { recipient { handle } } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    body["data"]["shares"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["recipient"]["handle"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_handle_a_name_or_a_number_typed_answers_to_whom() {
    let (bot, sam) = sam_with_friends().await;

    let question = ask(&bot, 1).await;
    let text = question["message"]["text"].as_str().unwrap();
    // The list is numbered, and each friend has a quick reply.
    let (alex, kim) = numbers(text);
    assert_eq!(question["message"]["quick_replies"].as_array().unwrap().len(), 2);

    let mut expected = Vec::new();
    for (n, answer, to) in [
        (1, "alex", "alex"),
        (2, "@Kim", "kim"),
        (3, "to alex", "alex"),
        (4, "To @KIM", "kim"),
        (5, "alex rivera", "alex"),
        (6, kim.as_str(), "kim"),
        (7, alex.as_str(), "alex"),
    ] {
        if n > 1 {
            ask(&bot, n).await;
        }
        let replies = bot.say("psam", answer).await;
        assert_eq!(replies.len(), 1, "{answer}: {replies:?}");
        assert!(
            replies[0].starts_with("Sent “") && replies[0].contains(&format!("to @{to}.")),
            "{answer}: {replies:?}"
        );
        expected.insert(0, to.to_owned());
    }
    assert_eq!(recipients(&bot, &sam).await, expected);

    // Answered: the question is closed, and a handle alone is no command.
    let after = bot.say("psam", "alex").await;
    assert!(after[0].contains("Here's what I can do"), "the help: {after:?}");
}

#[tokio::test]
async fn an_unclear_answer_asks_again_with_the_choices() {
    let (bot, sam) = sam_with_friends().await;
    ask(&bot, 1).await;

    for unclear in ["someone", "3", "to nobody", "0"] {
        let again = bot.say("psam", unclear).await;
        assert_eq!(again.len(), 1, "{again:?}");
        assert!(
            again[0].starts_with("I didn't catch who should get “")
                && again[0].contains("@kim (kim)")
                && again[0].contains("@alex (Alex Rivera)"),
            "{unclear}: {again:?}"
        );
        let body = bot.sent_to("psam").last().unwrap().clone();
        let replies = body["message"]["quick_replies"].as_array().unwrap();
        assert_eq!(replies.len(), 2, "{body}");
        assert!(
            replies.contains(&json!({ "content_type": "text", "title": "@alex", "payload": "SEND:alex" })),
            "{body}"
        );
    }
    assert!(recipients(&bot, &sam).await.is_empty());

    let sent = bot.say("psam", "@alex").await;
    assert!(sent[0].starts_with("Sent “"), "{sent:?}");
    assert_eq!(recipients(&bot, &sam).await, ["alex"]);
}

#[tokio::test]
async fn a_command_typed_instead_runs_and_the_question_stays_open() {
    let (bot, sam) = sam_with_friends().await;
    ask(&bot, 1).await;

    let friends = bot.say("psam", "friends").await;
    assert!(friends[0].starts_with("Your friends: @"), "{friends:?}");
    let help = bot.say("psam", "help").await;
    assert!(help[0].contains("Here's what I can do"), "{help:?}");

    let sent = bot.say("psam", "kim").await;
    assert!(sent[0].starts_with("Sent “"), "{sent:?}");
    assert_eq!(recipients(&bot, &sam).await, ["kim"]);
}

#[tokio::test]
async fn a_typed_answer_after_the_question_expired_says_so() {
    let (bot, sam) = sam_with_friends().await;
    ask(&bot, 1).await;
    bot.app.advance(Duration::from_secs(11 * 60));

    let late = bot.say("psam", "alex").await;
    assert_eq!(late, ["That question has expired: paste the link again."]);
    assert!(recipients(&bot, &sam).await.is_empty());
    // Said once: after that, a handle alone is an unknown message.
    let again = bot.say("psam", "alex").await;
    assert!(again[0].contains("Here's what I can do"), "{again:?}");

    // Within the ten minutes it still works.
    ask(&bot, 2).await;
    bot.app.advance(Duration::from_secs(9 * 60));
    let sent = bot.say("psam", "2").await;
    assert!(sent[0].starts_with("Sent “"), "{sent:?}");
}
