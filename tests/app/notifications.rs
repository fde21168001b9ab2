//! Notifications against local fakes of Google, FCM and the Send API:
//! every channel, every documented error, retries, preferences, quiet
//! hours, the 24-hour window, leases and idempotency.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use api::{clock::Clock as _, detection::check::CheckRecipient, jobs::Job as _, spotify::links::TrackId};
use chrono::TimeDelta;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{Session, TestApp, relog, serve, spawn_app_with},
    notify_fakes::{self, Recorded, Shared},
    shares::{TRACK, TRACK_ID, share},
};

const DELIVERIES: &str =
    "{ deliveries(first: 50) { edges { node { channel status kind attempts lastError sentAt } } } }";

pub struct World {
    pub app: TestApp,
    pub fakes: Shared,
    pub sam: Session,
    pub alex: Session,
}

/// Sam and Alex, friends; Alex has Spotify; Sam's devices and Messenger
/// sender id as given. The server talks to the local fakes.
pub async fn world(devices: &[&str], psid: Option<&str>) -> World {
    let fakes: Shared = Arc::new(Mutex::new(Recorded::default()));
    let base = serve(notify_fakes::router(fakes.clone())).await;
    let providers = api::sandbox::providers::ProviderSandbox::new(api::clock::ManualClock::new());
    let credentials = std::env::temp_dir().join(format!("sa-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &credentials,
        providers.service_account_json(&format!("{base}/google/token")),
    )
    .unwrap();
    let fcm = format!("{base}/fcm");
    let graph = format!("{base}/graph");
    let app = spawn_app_with(&[
        ("FCM_CREDENTIALS", credentials.to_str().unwrap()),
        ("FCM_API_URL", &fcm),
        ("MESSENGER_GRAPH_URL", &graph),
        ("MESSENGER_PAGE_TOKEN", "page-token"),
    ])
    .await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    app.link_spotify(&alex, "alexspot").await;
    for token in devices {
        let body = app
            .graphql(
                "mutation($t: String!) { registerDevice(input: { token: $t, platform: ANDROID }) { id } }",
                json!({ "t": token }),
                Some(&sam.access),
            )
            .await;
        assert!(body["data"]["registerDevice"].is_object(), "{body}");
    }
    if let Some(psid) = psid {
        link_messenger(&app, &sam, psid).await;
    }
    World { app, fakes, sam, alex }
}

/// Links a Messenger sender to `session`'s account the way the bot does
/// (personal link, Spotify consent), then records that they just wrote to
/// the page (opening the 24-hour window).
pub async fn link_messenger(app: &TestApp, session: &Session, psid: &str) {
    // Their Spotify, linked from the app; the personal link then finds the
    // account through it.
    let account = format!("{}-spotify", session.handle);
    app.link_spotify(session, &account).await;
    let link = api::linking::messenger::personal_link(&app.state, psid);
    let spotify = app.location(&link).await;
    let (_, page) = app.browse(&format!("{spotify}&sandbox_account={account}")).await;
    assert!(
        page.contains(&format!("You're connected as <b>@{}</b>", session.handle)),
        "{page}"
    );
    wrote_to_page(app, psid, TimeDelta::zero()).await;
}

/// Sets when `psid` last wrote to the page, `ago` before now.
pub async fn wrote_to_page(app: &TestApp, psid: &str, ago: TimeDelta) {
    let db = app.db().await;
    let at = app.clock.now() - ago;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            "UPDATE messenger_links SET last_message_at = $1 WHERE psid = $2"
        } else {
            "UPDATE messenger_links SET last_message_at = ? WHERE psid = ?"
        },
        [at.into(), psid.into()],
    ))
    .await
    .unwrap();
}

/// Alex plays what Sam shared; the check runs; notifications go out.
pub async fn receipt(world: &World) -> Value {
    let app = &world.app;
    let id = share(app, &world.sam, "alex", TRACK).await["id"].clone();
    app.spotify.record_play(
        "alexspot",
        &TrackId::parse(TRACK_ID).unwrap(),
        app.clock.now() + TimeDelta::minutes(2),
    );
    app.advance(Duration::from_secs(6 * 60));
    app.run_due_jobs().await;
    id
}

pub async fn deliveries(app: &TestApp, who: &Session) -> Vec<Value> {
    let body = app.graphql(DELIVERIES, json!({}), Some(&relog(app, who).await)).await;
    body["data"]["deliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

pub fn of_kind<'a>(list: &'a [Value], kind: &str) -> Vec<&'a Value> {
    list.iter().filter(|d| d["kind"] == kind).collect()
}

#[tokio::test]
async fn a_receipt_goes_out_on_every_device_and_messenger_with_one_token() {
    let world = world(&["ok-phone", "ok-tablet"], Some("sam-psid")).await;
    let id = receipt(&world).await;

    let sams = deliveries(&world.app, &world.sam).await;
    let receipts = of_kind(&sams, "share_played");
    assert_eq!(receipts.len(), 3, "{sams:?}");
    assert!(
        receipts.iter().all(|d| d["status"] == "SENT" && d["attempts"] == 1),
        "{receipts:?}"
    );
    // Operators see deliveries by channel and outcome, and the time from
    // event to provider acceptance (the recorder is shared by the tests in
    // this process, so at least this test's own).
    let metrics = world.app.get("/metrics").await.text().await.unwrap();
    let value = |series: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value(r#"deliveries_total{channel="PUSH",outcome="sent"}"#) >= 2.0,
        "{metrics}"
    );
    assert!(
        value(r#"deliveries_total{channel="MESSENGER",outcome="sent"}"#) >= 1.0,
        "{metrics}"
    );
    assert!(
        value(r#"delivery_latency_seconds_count{channel="PUSH"}"#) >= 2.0,
        "{metrics}"
    );
    assert!(
        value(r#"delivery_latency_seconds_count{channel="MESSENGER"}"#) >= 1.0,
        "{metrics}"
    );

    let rec = world.fakes.lock().unwrap();
    assert_eq!(rec.token_requests, 1, "one token for many sends");
    let claims = &rec.assertions[0];
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
    assert!(claims["aud"].as_str().unwrap().ends_with("/google/token"));
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 3600);
    let pushes: Vec<_> = rec
        .pushes
        .iter()
        .filter(|(_, b)| b["message"]["data"]["type"] == "share_played")
        .collect();
    assert_eq!(pushes.len(), 2);
    let message = &pushes[0].1["message"];
    assert_eq!(message["data"]["shareId"], id.as_str().unwrap());
    assert_eq!(message["notification"]["title"], "alex played your song");
    assert!(
        message["notification"]["body"]
            .as_str()
            .unwrap()
            .ends_with(", 2 min after you shared it"),
        "{message}"
    );
    assert_eq!(message["android"]["priority"], "HIGH");
    assert_eq!(message["apns"]["headers"]["apns-priority"], "10");
    let (psid, body) = rec
        .messages
        .iter()
        .find(|(_, b)| b["message"]["text"].as_str().unwrap().contains("played"))
        .unwrap();
    assert_eq!(psid, "sam-psid");
    assert_eq!(body["messaging_type"], "UPDATE");
    let text = body["message"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("alex played “") && text.contains(&format!("https://open.spotify.com/track/{TRACK_ID}")),
        "{text}"
    );
}

#[tokio::test]
async fn the_sender_sees_how_the_receipt_went_out_on_the_share() {
    let world = world(&["ok-phone"], None).await;
    let id = receipt(&world).await;
    let access = relog(&world.app, &world.sam).await;
    let body = world
        .app
        .graphql(
            "query($id: ID!) { share(id: $id) { status deliveries { channel status sentAt } } }",
            json!({ "id": id }),
            Some(&access),
        )
        .await;
    let share = &body["data"]["share"];
    assert_eq!(share["status"], "PLAYED");
    assert_eq!(share["deliveries"].as_array().unwrap().len(), 1, "{share}");
    assert_eq!(share["deliveries"][0]["status"], "SENT");
    assert!(!share["deliveries"][0]["sentAt"].is_null());
}

#[tokio::test]
async fn a_new_share_reaches_the_recipient_with_the_note_and_link() {
    let world = world(&[], None).await;
    let app = &world.app;
    app.graphql(
        "mutation($t: String!) { registerDevice(input: { token: $t, platform: IOS }) { id } }",
        json!({ "t": "ok-alex" }),
        Some(&world.alex.access),
    )
    .await;
    app.graphql(
        "mutation { shareSong(input: { to: \"alex\", track: \"4uLU6hMCjMI75M1A2tKUQC\", note: \"for the drive\" }) { id } }",
        json!({}),
        Some(&world.sam.access),
    )
    .await;
    app.run_due_jobs().await;

    let (_, body) = world
        .fakes
        .lock()
        .unwrap()
        .pushes
        .iter()
        .find(|(t, _)| t == "ok-alex")
        .cloned()
        .expect("a push to Alex");
    let message = &body["message"];
    assert_eq!(message["notification"]["title"], "sam sent you a song");
    assert!(
        message["notification"]["body"]
            .as_str()
            .unwrap()
            .ends_with(": for the drive")
    );
    assert_eq!(message["data"]["type"], "share_received");
    // Alex's own tracked link: it leads to the track on Spotify.
    let url = message["data"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/s/", app.address)), "{url}");
    assert_eq!(
        app.location(url).await,
        format!("https://open.spotify.com/track/{TRACK_ID}")
    );
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried_with_backoff_then_given_up() {
    let world = world(&["busy-1", "down-1"], None).await;
    receipt(&world).await;
    let app = &world.app;

    // busy-1 was told to wait 30 s; nothing is retried before that.
    app.advance(Duration::from_secs(20));
    app.run_due_jobs().await;
    let busy_sends = |rec: &Recorded| rec.pushes.iter().filter(|(t, _)| t == "busy-1").count();
    assert_eq!(busy_sends(&world.fakes.lock().unwrap()), 1);
    for _ in 0..12 {
        app.advance(Duration::from_secs(3600));
        app.run_due_jobs().await;
    }

    let receipts: Vec<Value> = of_kind(&deliveries(app, &world.sam).await, "share_played")
        .into_iter()
        .cloned()
        .collect();
    let busy = receipts
        .iter()
        .find(|d| d["status"] == "SENT")
        .expect("busy-1 went out on retry");
    assert_eq!(busy["attempts"], 2);
    let down = receipts
        .iter()
        .find(|d| d["status"] == "FAILED")
        .expect("down-1 was given up");
    assert_eq!(down["attempts"], api::notify::outbox::MAX_ATTEMPTS);
    assert!(down["lastError"].as_str().unwrap().contains("UNAVAILABLE"), "{down}");
    assert_eq!(busy_sends(&world.fakes.lock().unwrap()), 2);
}

#[tokio::test]
async fn messenger_is_used_only_inside_the_24_hour_window() {
    let world = world(&[], Some("sam-psid")).await;
    wrote_to_page(&world.app, "sam-psid", TimeDelta::hours(25)).await;
    receipt(&world).await;

    let receipts: Vec<Value> = of_kind(&deliveries(&world.app, &world.sam).await, "share_played")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["status"], "SKIPPED");
    assert!(
        receipts[0]["lastError"].as_str().unwrap().contains("24-hour window"),
        "{receipts:?}"
    );
    let rec = world.fakes.lock().unwrap();
    assert!(
        rec.messages.iter().all(|(_, b)| b["messaging_type"] != "MESSAGE_TAG"),
        "never a tag"
    );
    assert!(
        rec.messages
            .iter()
            .all(|(_, b)| !b["message"]["text"].as_str().unwrap_or("").contains("played"))
    );
}

#[tokio::test]
async fn messenger_errors_551_613_and_190() {
    for (psid, status, attempts, error) in [
        (
            "gone",
            "FAILED",
            1,
            "aren't receiving messages from the page right now (Messenger error 551)",
        ),
        ("limited", "SENT", 2, ""),
        (
            "badtoken",
            "FAILED",
            1,
            "set a new MESSENGER_PAGE_TOKEN (Messenger error 190)",
        ),
    ] {
        let world = world(&[], Some(psid)).await;
        receipt(&world).await;
        for _ in 0..3 {
            world.app.advance(Duration::from_secs(600));
            world.app.run_due_jobs().await;
        }
        let receipts: Vec<Value> = of_kind(&deliveries(&world.app, &world.sam).await, "share_played")
            .into_iter()
            .cloned()
            .collect();
        assert_eq!(receipts[0]["status"], status, "{psid}: {receipts:?}");
        assert_eq!(receipts[0]["attempts"], attempts, "{psid}");
        assert!(
            receipts[0]["lastError"].as_str().unwrap_or("").contains(error),
            "{psid}: {receipts:?}"
        );
        if psid == "gone" {
            // Unreachable now: the next notice is skipped without a call.
            let calls = world.fakes.lock().unwrap().messages.len();
            share(&world.app, &world.sam, "alex", &format!("{:0>22}", 7)).await;
            let alex_share = of_kind(&deliveries(&world.app, &world.alex).await, "share_received").len();
            assert_eq!(alex_share, 0, "Alex has no channels");
            assert_eq!(world.fakes.lock().unwrap().messages.len(), calls);
        }
    }
}

#[tokio::test]
async fn switched_off_channels_are_skipped_and_quiet_hours_delay_push() {
    let world = world(&["ok-phone"], Some("sam-psid")).await;
    let app = &world.app;
    let hour = app.clock.now().format("%H").to_string().parse::<i32>().unwrap();
    app.graphql(
        "mutation($s: Int!, $e: Int!) { updateSettings(input: { notifyMessenger: false, timezone: \"UTC\", quietHoursStart: $s, quietHoursEnd: $e }) { id } }",
        json!({ "s": hour, "e": (hour + 2) % 24 }),
        Some(&world.sam.access),
    )
    .await;
    receipt(&world).await;

    let receipts: Vec<Value> = of_kind(&deliveries(app, &world.sam).await, "share_played")
        .into_iter()
        .cloned()
        .collect();
    let messenger = receipts.iter().find(|d| d["channel"] == "MESSENGER").unwrap();
    assert_eq!(messenger["status"], "SKIPPED");
    assert_eq!(messenger["lastError"], "turned off");
    let push = receipts.iter().find(|d| d["channel"] == "PUSH").unwrap();
    assert_eq!(push["status"], "PENDING", "waiting for quiet hours to end");

    app.advance(Duration::from_secs(2 * 3600));
    app.run_due_jobs().await;
    let receipts: Vec<Value> = of_kind(&deliveries(app, &world.sam).await, "share_played")
        .into_iter()
        .cloned()
        .collect();
    let push = receipts.iter().find(|d| d["channel"] == "PUSH").unwrap();
    assert_eq!(push["status"], "SENT", "delayed, never dropped");
}

#[tokio::test]
async fn a_worker_killed_between_claim_and_send_loses_nothing() {
    let world = world(&["ok-phone"], None).await;
    let app = &world.app;
    share(app, &world.sam, "alex", TRACK).await;
    app.spotify.record_play(
        "alexspot",
        &TrackId::parse(TRACK_ID).unwrap(),
        app.clock.now() + TimeDelta::minutes(1),
    );
    app.advance(Duration::from_secs(6 * 60));
    // Detect the play, but let a doomed worker claim the send.
    let db = app.db().await;
    let checks = api::jobs::queue::claim(&db, "inline", app.clock.now(), 1)
        .await
        .unwrap();
    assert_eq!(checks[0].kind, "check_recipient");
    api::jobs::queue::complete(&db, &checks[0], app.clock.now())
        .await
        .unwrap();
    let check: CheckRecipient = serde_json::from_str(&checks[0].payload).unwrap();
    check.run(&app.state).await.unwrap();
    let doomed = api::jobs::queue::claim(&db, "doomed", app.clock.now(), 10)
        .await
        .unwrap();
    assert!(doomed.iter().any(|j| j.kind == "send_delivery"));

    app.run_due_jobs().await;
    assert!(
        world
            .fakes
            .lock()
            .unwrap()
            .pushes
            .iter()
            .all(|(_, b)| b["message"]["data"]["type"] != "share_played")
    );
    app.advance(Duration::from_secs(61));
    app.run_due_jobs().await;

    let receipts: Vec<Value> = of_kind(&deliveries(app, &world.sam).await, "share_played")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(receipts[0]["status"], "SENT");
    let sent = world
        .fakes
        .lock()
        .unwrap()
        .pushes
        .iter()
        .filter(|(_, b)| b["message"]["data"]["type"] == "share_played")
        .count();
    assert_eq!(sent, 1, "exactly once");
}

#[tokio::test]
async fn the_same_event_twice_gives_one_delivery_per_target() {
    let world = world(&["ok-phone", "ok-tablet"], Some("sam-psid")).await;
    let app = &world.app;
    let sam_id: uuid::Uuid = world.sam.user_id.parse().unwrap();
    let notice = api::notify::Notice {
        user_id: sam_id,
        kind: entity::deliveries::EventKind::RelinkRequired,
        event_id: uuid::Uuid::now_v7(),
        share_id: None,
    };
    let db = app.db().await;
    let first = app.state.notify.fan_out(&db, notice, app.clock.now()).await.unwrap();
    let again = app.state.notify.fan_out(&db, notice, app.clock.now()).await.unwrap();
    assert_eq!((first, again), (3, 0));
    app.run_due_jobs().await;
    let relinks = of_kind(&deliveries(app, &world.sam).await, "relink_required").len();
    assert_eq!(relinks, 3);
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first() {
    let world = world(&["ok-phone"], None).await;
    for n in 0..3 {
        share(&world.app, &world.alex, "sam", &format!("{n:0>22}")).await;
    }
    world.app.run_due_jobs().await;
    let query = "query($a: String) { deliveries(first: 2, after: $a) { edges { node { kind status } } pageInfo { hasNextPage endCursor } } }";
    let first = world
        .app
        .graphql(query, json!({ "a": null }), Some(&world.sam.access))
        .await;
    let page = &first["data"]["deliveries"];
    assert_eq!(page["edges"].as_array().unwrap().len(), 2);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let second = world
        .app
        .graphql(
            query,
            json!({ "a": page["pageInfo"]["endCursor"] }),
            Some(&world.sam.access),
        )
        .await;
    assert_eq!(second["data"]["deliveries"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"]["deliveries"]["pageInfo"]["hasNextPage"], false);
    let other = world
        .app
        .graphql(
            "{ deliveries { edges { node { id } } } }",
            json!({}),
            Some(&world.alex.access),
        )
        .await;
    assert_eq!(
        other["data"]["deliveries"]["edges"],
        json!([]),
        "Alex sees none of Sam's"
    );
}

/// The identity a push carries on each platform: Android's tag, APNs'
/// collapse id and Web Push's topic, which must be one value.
pub fn identity(message: &Value) -> String {
    let tag = message["android"]["notification"]["tag"].as_str().unwrap_or_default();
    let collapse = message["apns"]["headers"]["apns-collapse-id"]
        .as_str()
        .unwrap_or_default();
    let topic = message["webpush"]["headers"]["Topic"].as_str().unwrap_or_default();
    assert!(
        tag == collapse && tag == topic,
        "one identity on every platform: {message}"
    );
    assert!(
        !tag.is_empty() && tag.len() <= 32 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "at most 32 URL-safe characters (Web Push's Topic): {tag:?}"
    );
    assert!(message["android"].get("collapse_key").is_none(), "{message}");
    tag.to_owned()
}

#[tokio::test]
async fn a_push_sent_again_carries_the_same_identity_so_the_phone_shows_it_once() {
    // The phone is busy the first time: the receipt goes to it twice.
    let world = world(&["busy-phone", "ok-tablet"], None).await;
    receipt(&world).await;
    world.app.advance(Duration::from_secs(60));
    world.app.run_due_jobs().await;
    share(&world.app, &world.alex, "sam", TRACK).await;
    world.app.run_due_jobs().await;

    let rec = world.fakes.lock().unwrap();
    let sent = |token: &str, kind: &str| -> Vec<String> {
        rec.pushes
            .iter()
            .filter(|(t, body)| t == token && body["message"]["data"]["type"] == kind)
            .map(|(_, body)| identity(&body["message"]))
            .collect()
    };
    let phone = sent("busy-phone", "share_played");
    assert_eq!(phone.len(), 2, "refused once, then accepted: {phone:?}");
    assert_eq!(phone[0], phone[1], "the second replaces the first on the phone");
    assert_eq!(sent("ok-tablet", "share_played"), vec![phone[0].clone()]);
    let received = sent("ok-tablet", "share_received");
    assert_eq!(received.len(), 1);
    assert_ne!(received[0], phone[0], "another notification has another identity");
}
