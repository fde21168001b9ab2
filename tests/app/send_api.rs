//! The Send API as Meta documents it, through the running app: every
//! error of `tests/fixtures/messenger/send_api/manifest.json` answered by
//! the fake Send API to a bot reply and handled as its class (retried,
//! FAILED with a reason, the person unreachable, the operator told), the
//! same table for notifications, a refused Page token, and the API's
//! limits (text length, quick replies) on a long `inbox` and a long
//! handle.
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, relog},
    messenger::{Bot, bot},
    notifications::{World, world},
    notify_fakes::{Script, script},
    shares::{TRACK, share},
    webhook_events::{counter_sum, fixture},
};
use entity::bot_replies;

/// One row of the manifest.
struct Case {
    file: String,
    status: u16,
    content_type: String,
    code: Option<i64>,
    subcode: Option<i64>,
    class: String,
}

fn cases() -> Vec<Case> {
    let manifest: Value = serde_json::from_str(&fixture("send_api/manifest.json")).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["class"] != "sent")
        .map(|case| Case {
            file: case["file"].as_str().unwrap().to_owned(),
            status: case["http_status"].as_u64().unwrap() as u16,
            content_type: case["content_type"].as_str().unwrap().to_owned(),
            code: case["code"].as_i64(),
            subcode: case["error_subcode"].as_i64(),
            class: case["class"].as_str().unwrap().to_owned(),
        })
        .collect()
}

impl Case {
    /// The fake answers this case's fixture `times` times.
    fn script(&self, times: usize) -> Script {
        Script {
            status: self.status,
            content_type: self.content_type.clone(),
            body: fixture(&format!("send_api/{}", self.file)).into_bytes(),
            times,
        }
    }

    /// Temporary, but for hours: the page is restricted or blocked.
    fn waits_hours(&self) -> bool {
        matches!(
            (self.code, self.subcode),
            (Some(10), Some(1_893_063)) | (Some(368), _) | (Some(2022), _) | (Some(613), Some(2_018_338))
        )
    }

    /// How the reason names it.
    fn named(&self) -> String {
        match (self.code, self.subcode) {
            (Some(code), Some(subcode)) => format!("Messenger error {code}/{subcode}"),
            (Some(code), None) => format!("Messenger error {code}"),
            (None, _) => format!("HTTP {}", self.status),
        }
    }
}

/// The bot's replies to `psid`, oldest first.
async fn replies_to(app: &TestApp, psid: &str) -> Vec<bot_replies::Model> {
    let db = app.db().await;
    bot_replies::Entity::find()
        .filter(bot_replies::Column::Psid.eq(psid))
        .order_by_asc(bot_replies::Column::Id)
        .all(&db)
        .await
        .unwrap()
}

/// How many times `text` reached the fake Send API for `psid`.
fn times_sent(bot: &Bot, psid: &str, text: &str) -> usize {
    bot.sent_to(psid)
        .iter()
        .filter(|m| m["message"]["text"] == text)
        .count()
}

/// `psid` writes "help" (unknown to the bot: the help, then the welcome).
fn help_from(psid: &str, n: usize) -> Value {
    json!({ "sender": { "id": psid }, "recipient": { "id": "104872931258841" },
            "timestamp": 1_789_466_500_000i64 + n as i64,
            "message": { "mid": format!("m_help_{psid}"), "text": "help" } })
}

#[tokio::test]
async fn every_documented_send_api_error_is_handled_as_its_class_whatever_the_http_status() {
    let bot = bot().await;
    // The refused Page token stops all sending: those rows have a test of
    // their own.
    let cases: Vec<Case> = cases().into_iter().filter(|case| case.code != Some(190)).collect();
    assert!(cases.len() >= 55, "{} cases", cases.len());
    let psid = |n: usize| format!("fx{n:02}");
    let mut events = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        script(&bot.fakes, &psid(n), case.script(1));
        events.push(json!({ "id": "104872931258841", "time": 1, "messaging": [help_from(&psid(n), n)] }));
    }
    let body = json!({ "object": "page", "entry": events }).to_string();
    assert_eq!(bot.post_signed(&body).await, StatusCode::OK);
    bot.app.run_due_jobs().await;
    for (n, case) in cases.iter().enumerate() {
        let help = &replies_to(&bot.app, &psid(n)).await[0];
        let reason = help.last_error.clone().unwrap_or_default();
        assert!(
            reason.contains(&case.named()),
            "{}: the reason names it: {reason}",
            case.file
        );
        assert!(
            !reason.contains('{') && !reason.contains('<'),
            "{}: readable: {reason}",
            case.file
        );
    }
    // Retries are due within minutes; a restricted page's after an hour.
    bot.app.advance(Duration::from_secs(10 * 60));
    bot.app.run_due_jobs().await;

    for (n, case) in cases.iter().enumerate() {
        let replies = replies_to(&bot.app, &psid(n)).await;
        let help = &replies[0];
        let label = format!("{} ({})", case.file, case.class);
        match case.class.as_str() {
            "retry" if case.waits_hours() => {
                assert_eq!(help.status, bot_replies::Status::Pending, "{label}: waits an hour");
                assert_eq!(help.attempts, 1, "{label}");
                assert_eq!(times_sent(&bot, &psid(n), &help.text), 1, "{label}");
            }
            "retry" => {
                assert_eq!(help.status, bot_replies::Status::Sent, "{label}: retried");
                assert_eq!(help.attempts, 2, "{label}");
                assert_eq!(times_sent(&bot, &psid(n), &help.text), 2, "{label}");
            }
            "failed" | "unreachable" | "operator" => {
                assert_eq!(help.status, bot_replies::Status::Failed, "{label}: not retried");
                assert_eq!(help.attempts, 1, "{label}");
                assert_eq!(times_sent(&bot, &psid(n), &help.text), 1, "{label}");
            }
            other => panic!("{label}: a class the table does not know: {other}"),
        }
    }

    // An hour and more later the restricted page's messages go out too.
    bot.app.advance(Duration::from_secs(2 * 3600));
    bot.app.run_due_jobs().await;
    for (n, case) in cases.iter().enumerate().filter(|(_, case)| case.waits_hours()) {
        let help = &replies_to(&bot.app, &psid(n)).await[0];
        assert_eq!(help.status, bot_replies::Status::Sent, "{}", case.file);
        assert_eq!(help.attempts, 2, "{}", case.file);
    }
}

#[tokio::test]
async fn a_refused_page_token_fails_once_and_stops_sending() {
    for case in cases().into_iter().filter(|case| case.code == Some(190)) {
        let bot = bot().await;
        let alerts_before = counter_sum(&bot.app, "messenger_operator_alerts_total").await;
        for (n, psid) in ["tok1", "tok2"].into_iter().enumerate() {
            script(&bot.fakes, psid, case.script(100));
            let body = json!({ "object": "page", "entry": [
                { "id": "104872931258841", "time": 1, "messaging": [help_from(psid, n)] } ] })
            .to_string();
            assert_eq!(bot.post_signed(&body).await, StatusCode::OK);
            bot.app.run_due_jobs().await;
            bot.app.advance(Duration::from_secs(600));
            bot.app.run_due_jobs().await;
        }

        let calls = bot.fakes.lock().unwrap().messages.len();
        assert_eq!(
            calls, 1,
            "{}: one call, then no more while the token is refused",
            case.file
        );
        for psid in ["tok1", "tok2"] {
            let replies = replies_to(&bot.app, psid).await;
            assert_eq!(replies.len(), 2, "{}", case.file);
            for reply in replies {
                assert_eq!(reply.status, bot_replies::Status::Failed, "{}", case.file);
                assert_eq!(reply.attempts, 1);
                let reason = reply.last_error.unwrap();
                assert!(reason.contains("MESSENGER_PAGE_TOKEN"), "{}: {reason}", case.file);
            }
        }
        let alerts = counter_sum(&bot.app, "messenger_operator_alerts_total").await - alerts_before;
        assert!(alerts >= 1.0, "{}: the operator was told", case.file);
    }
}

/// The fixture of the manifest named `file`.
fn case(file: &str) -> Case {
    cases().into_iter().find(|case| case.file == file).unwrap()
}

/// Sam's notice that Alex played his song, through the fake answering
/// `file` once on Sam's Messenger.
async fn receipt_meeting(file: &str) -> World {
    let world = world(&[], Some("sam-psid")).await;
    world.app.run_due_jobs().await; // the bot's "You're connected"
    script(&world.fakes, "sam-psid", case(file).script(1));
    share(&world.app, &world.sam, "alex", TRACK).await;
    world.app.spotify.record_play(
        "alexspot",
        &api::spotify::links::TrackId::parse(crate::shares::TRACK_ID).unwrap(),
        api::clock::Clock::now(world.app.clock.as_ref()) + chrono::TimeDelta::minutes(2),
    );
    world.app.advance(Duration::from_secs(6 * 60));
    world.app.run_due_jobs().await;
    world
}

async fn played_notice(world: &World) -> Value {
    let token = crate::helpers::relog(&world.app, &world.sam).await;
    let body = world
        .app
        .graphql(
            "{ deliveries { edges { node { channel status kind attempts lastError } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    body["data"]["deliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .find(|node| node["kind"] == "share_played" && node["channel"] == "MESSENGER")
        .unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn notifications_meet_the_same_table() {
    // 1200 with HTTP 400: temporary, retried.
    let world = receipt_meeting("error_1200_2018024_temporary_send_failure.json").await;
    world.app.advance(Duration::from_secs(10 * 60));
    world.app.run_due_jobs().await;
    let notice = played_notice(&world).await;
    assert_eq!(
        (notice["status"].clone(), notice["attempts"].clone()),
        (json!("SENT"), json!(2)),
        "{notice}"
    );

    // "Page temporarily restricted": tried again after an hour, not before.
    let world = receipt_meeting("error_10_1893063_page_temporarily_restricted.json").await;
    world.app.advance(Duration::from_secs(10 * 60));
    world.app.run_due_jobs().await;
    let waiting = played_notice(&world).await;
    assert_eq!(waiting["status"], "PENDING", "{waiting}");
    assert!(
        waiting["lastError"]
            .as_str()
            .unwrap()
            .contains("temporarily restricted"),
        "{waiting}"
    );
    world.app.advance(Duration::from_secs(2 * 3600));
    world.app.run_due_jobs().await;
    assert_eq!(played_notice(&world).await["status"], "SENT");

    // Outside the window: FAILED, with why.
    let world = receipt_meeting("error_10_2018278_outside_allowed_window.json").await;
    let failed = played_notice(&world).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(
        failed["lastError"].as_str().unwrap().contains("24-hour window"),
        "{failed}"
    );

    // They can't receive messages: FAILED, and the next notice is not even tried.
    let world = receipt_meeting("error_10_2018108_person_cannot_receive_messages.json").await;
    assert_eq!(played_notice(&world).await["status"], "FAILED");
    let calls = world.fakes.lock().unwrap().messages.len();
    share(&world.app, &world.alex, "sam", &format!("{:0>22}", 9)).await;
    world.app.run_due_jobs().await;
    assert_eq!(
        world.fakes.lock().unwrap().messages.len(),
        calls,
        "unreachable: no call"
    );
}

#[tokio::test]
async fn a_long_inbox_is_split_between_lines_and_never_inside_a_link() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let mut alex = bot.app.sign_up("alex").await;
    bot.app.befriend(&sam, &alex).await;
    bot.link("psam", &sam).await;
    // 60 songs waiting (50 an hour is the most one person may share).
    for n in 0..60 {
        if n == 50 {
            bot.app.advance(Duration::from_secs(61 * 60));
            alex.access = relog(&bot.app, &alex).await;
        }
        let shared = share(&bot.app, &alex, "sam", &format!("{n:0>22}")).await;
        assert!(shared["id"].is_string(), "{shared}");
    }
    bot.app.run_due_jobs().await; // the 60 "alex sent you" notices

    let inbox = bot.say("psam", "inbox").await;
    assert!(inbox.len() >= 2, "{} messages", inbox.len());
    for message in &inbox {
        assert!(
            message.chars().count() <= 2000,
            "{} characters",
            message.chars().count()
        );
        assert!(!message.trim().is_empty());
    }
    let lines: Vec<&str> = inbox.iter().flat_map(|message| message.lines()).collect();
    assert_eq!(lines[0], "Songs waiting for you:");
    let songs: Vec<&&str> = lines.iter().filter(|line| line.starts_with("• ")).collect();
    assert!(songs.len() >= 40, "three messages' worth: {lines:?}");
    for song in &songs {
        let link = song.rsplit(' ').next().unwrap();
        let token = link
            .strip_prefix(&format!("{}/s/", bot.app.address))
            .unwrap_or_else(|| panic!("a tracked link ends each line: {song}"));
        assert_eq!(token.len(), 43, "a whole link ends each line: {song}");
    }
    let more = format!("…and {} more in the app.", 60 - songs.len());
    assert_eq!(*lines.last().unwrap(), more);
    assert_eq!(lines.len(), songs.len() + 2, "the heading, the songs and what is left");
}

#[tokio::test]
async fn quick_replies_keep_to_thirteen_with_titles_of_twenty_characters() {
    let bot = bot().await;
    let sam = bot.app.sign_up("sam").await;
    let long = bot.app.sign_up("a_friend_with_a_long_handle").await;
    bot.app.befriend(&sam, &long).await;
    for n in 1..=12 {
        let friend = bot.app.sign_up(&format!("friend{n:02}")).await;
        bot.app.befriend(&sam, &friend).await;
    }
    bot.link("psam", &sam).await;
    bot.say("psam", TRACK).await;
    let question = bot.sent_to("psam").last().unwrap().clone();
    let choices = question["message"]["quick_replies"].as_array().unwrap();
    assert_eq!(choices.len(), 13, "{question}");
    for choice in choices {
        assert!(choice["title"].as_str().unwrap().chars().count() <= 20, "{choice}");
    }
    let long = choices
        .iter()
        .find(|c| c["payload"] == "SEND:a_friend_with_a_long_handle")
        .unwrap_or_else(|| panic!("{question}"));
    assert_eq!(long["title"], "@a_friend_with_a_lo…", "{long}");
    let replies = replies_to(&bot.app, "psam").await;
    assert!(
        replies.iter().all(|reply| reply.status == bot_replies::Status::Sent),
        "the Send API took every message"
    );
}
