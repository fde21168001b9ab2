//! `kill -9` in the middle of sending: the release binary, killed while
//! FCM holds a push open, then started again on the same database. The
//! share and its notice are kept, the push that may have gone out is sent
//! again as the same notification (one identity, so the device shows it
//! once), and the delivery log says it was interrupted. (The notice is the
//! "a friend shared a song" one: it goes out at once, where a listen
//! receipt waits, in real time, for the track to have been playable.)
//! The bot's replies are marked the same way: one cut short is sent again
//! once, and counted as interrupted.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use api::{clock::SystemClock, sandbox::spotify::SpotifySandbox};
use serde_json::{Value, json};

use crate::{
    binary::{Scratch, Server},
    helpers::{fresh_database, serve},
    messenger::{self, sign},
    notifications::identity,
    notify_fakes::{self, Recorded, Shared},
    shares::{SHARE, TRACK},
};

const NOTICES: &str = "{ deliveries(first: 50) { nodes { kind status attempts interruptions triedAt sentAt } } }";

/// Alex's devices: three that FCM answers at once, and one whose first
/// push FCM holds open without answering.
const DEVICES: [&str; 4] = ["ok-phone", "ok-tablet", "ok-laptop", "hold-watch"];

/// How long a poll waits for something that takes at most a job lease
/// (60 s) and a few polls.
const PATIENCE: Duration = Duration::from_secs(150);

/// The binary's settings: Spotify, Google and FCM are local fakes.
struct Providers {
    fakes: Shared,
    vars: Vec<(String, String)>,
}

impl Providers {
    /// The fakes, and settings for a server in `dir` on `database_url`.
    async fn start(dir: &Scratch, database_url: &str) -> Self {
        let fakes: Shared = Arc::new(Mutex::new(Recorded::default()));
        let base = serve(notify_fakes::router(fakes.clone())).await;
        let spotify = SpotifySandbox::new(Arc::new(SystemClock));
        // The stand-in lives as long as its router.
        let spotify_url = serve(api::sandbox::spotify::router(spotify.clone())).await;
        let google = api::sandbox::providers::ProviderSandbox::new(api::clock::ManualClock::new());
        let credentials = dir.0.join("service-account.json");
        std::fs::write(
            &credentials,
            google.service_account_json(&format!("{base}/google/token")),
        )
        .unwrap();
        let vars = [
            ("DATABASE_URL", database_url.to_owned()),
            ("SANDBOX", "off".into()),
            ("JWT_SECRET", "test-secret-test-secret-test-secret-0123".into()),
            ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            ("SPOTIFY_CLIENT_ID", "test-client".into()),
            ("SPOTIFY_CLIENT_SECRET", "test-client-secret".into()),
            ("SPOTIFY_ACCOUNTS_URL", format!("{spotify_url}/accounts")),
            ("SPOTIFY_API_URL", format!("{spotify_url}/api")),
            ("FCM_CREDENTIALS", credentials.to_str().unwrap().to_owned()),
            ("FCM_API_URL", format!("{base}/fcm")),
            ("MESSENGER_APP_SECRET", messenger::SECRET.into()),
            ("MESSENGER_VERIFY_TOKEN", "verify-me".into()),
            ("MESSENGER_PAGE_TOKEN", "page-token".into()),
            ("MESSENGER_GRAPH_URL", format!("{base}/graph")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        Self { fakes, vars }
    }

    async fn server(&self, dir: &Scratch) -> Server {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Server::start(dir, &vars).await
    }

    /// The texts the Send API received so far for `psid`, in order.
    fn messages_to(&self, psid: &str) -> Vec<String> {
        let rec = self.fakes.lock().unwrap();
        rec.messages
            .iter()
            .filter(|(to, _)| to == psid)
            .map(|(_, body)| body["message"]["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The pushes FCM received so far: (device token, identity).
    fn pushes(&self) -> Vec<(String, String)> {
        let rec = self.fakes.lock().unwrap();
        rec.pushes
            .iter()
            .map(|(token, body)| (token.clone(), identity(&body["message"])))
            .collect()
    }
}

/// Polls `check` every 100 ms until it answers something, for at most
/// [`PATIENCE`]; `what` names what was awaited when it never comes.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alex's notices of a new share in the delivery log, as Alex reads it.
async fn notices(server: &Server, token: &str) -> Vec<Value> {
    let body = server.graphql(NOTICES, json!({}), Some(token)).await;
    let nodes = body["data"]["deliveries"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    nodes
        .iter()
        .filter(|d| d["kind"] == "share_received")
        .cloned()
        .collect()
}

fn count(list: &[Value], status: &str) -> usize {
    list.iter().filter(|d| d["status"] == status).count()
}

#[tokio::test]
async fn a_push_cut_short_by_kill_9_is_sent_again_after_a_restart_as_the_same_notification() {
    let dir = Scratch::new();
    let (database_url, _database) = fresh_database().await;
    let providers = Providers::start(&dir, &database_url).await;
    let first = providers.server(&dir).await;

    let (sam, _) = first.sign_up("sam").await;
    let (alex, _) = first.sign_up("alex").await;
    let add = "mutation($h: String!) { addFriend(handle: $h) { status } }";
    first.graphql(add, json!({ "h": "alex" }), Some(&sam)).await;
    let accepted = first.graphql(add, json!({ "h": "sam" }), Some(&alex)).await;
    assert_eq!(accepted["data"]["addFriend"]["status"], "ACCEPTED", "{accepted}");
    let connect = first
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&alex))
        .await;
    let url = connect["data"]["connectSpotify"]["url"].as_str().unwrap();
    let page = reqwest::get(format!("{url}&sandbox_account=alexspot")).await.unwrap();
    assert!(page.text().await.unwrap().contains("@alex"));
    for token in DEVICES {
        let body = first
            .graphql(
                "mutation($t: String!) { registerDevice(input: { token: $t, platform: ANDROID }) { id } }",
                json!({ "t": token }),
                Some(&alex),
            )
            .await;
        assert!(body["data"]["registerDevice"].is_object(), "{body}");
    }
    let shared = first
        .graphql(SHARE, json!({ "to": "alex", "t": TRACK, "n": null }), Some(&sam))
        .await;
    let share_id = shared["data"]["shareSong"]["id"].as_str().unwrap().to_owned();

    // The notice goes out; FCM answers three devices and holds the fourth.
    let before = until("three notices sent and one being sent", async || {
        let list = notices(&first, &alex).await;
        (count(&list, "SENT") == 3 && count(&list, "SENDING") == 1).then_some(list)
    })
    .await;
    let held = before.iter().find(|d| d["status"] == "SENDING").unwrap();
    assert!(held["triedAt"].is_string(), "the try's time is marked: {held}");
    assert_eq!(held["interruptions"], 0, "{held}");
    assert!(
        providers.pushes().iter().any(|(token, _)| token == "hold-watch"),
        "FCM holds the watch's push"
    );

    first.signal("KILL");
    let (status, _) = first.ended().await;
    assert_eq!(status, None, "ended by the signal");

    let second = providers.server(&dir).await;
    let after = until("every notice sent after the restart", async || {
        let list = notices(&second, &alex).await;
        (count(&list, "SENT") == DEVICES.len()).then_some(list)
    })
    .await;

    let interrupted: Vec<&Value> = after.iter().filter(|d| d["interruptions"] == 1).collect();
    assert_eq!(
        interrupted.len(),
        1,
        "the log shows the one interrupted push: {after:?}"
    );
    assert_eq!(interrupted[0]["attempts"], 2, "the cut-short try counts: {after:?}");
    assert!(
        after
            .iter()
            .filter(|d| d["interruptions"] == 0)
            .all(|d| d["attempts"] == 1),
        "the pushes FCM answered were not sent again: {after:?}"
    );

    let pushes = providers.pushes();
    let to = |device: &str| pushes.iter().filter(|(token, _)| token == device).count();
    assert_eq!(to("hold-watch"), 2, "the held push went again: {pushes:?}");
    for device in &DEVICES[..3] {
        assert_eq!(to(device), 1, "{device} got it once: {pushes:?}");
    }
    assert!(
        pushes.iter().all(|(_, id)| *id == pushes[0].1),
        "one notification, one identity everywhere: the watch shows it once: {pushes:?}"
    );

    let share = second
        .graphql(
            "query($id: ID!) { share(id: $id) { status sender { handle } } }",
            json!({ "id": share_id }),
            Some(&alex),
        )
        .await;
    assert_eq!(
        share["data"]["share"],
        json!({ "status": "PENDING", "sender": { "handle": "sam" } }),
        "the share is kept: {share}"
    );
    second.stop().await;
}

/// A message from `psid`, as Meta posts it to the webhook.
async fn write_to_the_page(server: &Server, psid: &str, text: &str) {
    let body = json!({ "object": "page", "entry": [{ "id": "104872931258841", "time": 1789466500000i64,
        "messaging": [{ "sender": { "id": psid }, "recipient": { "id": "104872931258841" },
                        "timestamp": 1789466500000i64,
                        "message": { "mid": format!("m_{psid}_{text}"), "text": text } }] }] })
    .to_string();
    let response = reqwest::Client::new()
        .post(server.url("/webhooks/messenger"))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

/// The sum of a counter's series on the server's `/metrics` (0 when it
/// was never counted).
async fn counter(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_bot_reply_cut_short_by_kill_9_is_sent_again_once_and_counted_as_interrupted() {
    let dir = Scratch::new();
    let (database_url, _database) = fresh_database().await;
    let providers = Providers::start(&dir, &database_url).await;
    let first = providers.server(&dir).await;

    // Two people ask for help; the Send API holds the first reply to one.
    write_to_the_page(&first, "ok-ben", "help").await;
    write_to_the_page(&first, "hold-ana", "help").await;
    // Ben's replies are all sent and recorded (the same twice in a row, a
    // second apart), and Ana's first is held.
    let mut seen = Vec::new();
    let ben = until("ben's replies sent and ana's first being sent", async || {
        let ben = providers.messages_to("ok-ben");
        let settled = !ben.is_empty()
            && providers.messages_to("hold-ana").len() == 1
            && counter(&first, "bot_replies_total").await == ben.len() as f64;
        let again = settled && ben == seen;
        seen = ben.clone();
        if settled && !again {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        again.then_some(ben)
    })
    .await;

    first.signal("KILL");
    let (status, _) = first.ended().await;
    assert_eq!(status, None, "ended by the signal");

    let second = providers.server(&dir).await;
    let ana = until("ana's replies after the restart", async || {
        let ana = providers.messages_to("hold-ana");
        (ana.len() > ben.len()).then_some(ana)
    })
    .await;
    // Whatever else is still on its way arrives within a few polls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ana_now = providers.messages_to("hold-ana");
    assert_eq!(ana_now, ana, "nothing more was sent");
    assert_eq!(
        ana.len(),
        ben.len() + 1,
        "one reply went twice: {ana:?} against {ben:?}"
    );
    assert_eq!(ana[0], ana[1], "the cut-short reply was sent again, first: {ana:?}");
    // (A reply may name its sender, in a link: compare first lines.)
    let first_lines = |texts: &[String]| -> Vec<String> {
        texts
            .iter()
            .map(|text| text.lines().next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        first_lines(&ana[1..]),
        first_lines(&ben),
        "then the others, once each, in order"
    );
    assert_eq!(providers.messages_to("ok-ben"), ben, "ben's were not sent again");
    assert_eq!(
        counter(&second, "bot_replies_interrupted_total").await,
        1.0,
        "the repeat is counted"
    );
    let log = second.stop().await;
    assert!(
        log.contains("a bot reply cut short while being sent is sent again"),
        "the operator is told"
    );
}
