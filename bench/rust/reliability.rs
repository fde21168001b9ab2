//! Reliability benchmark: `kill -9` in the middle of a fan-out of pushes,
//! then a restart on the same database, three times on each database.
//!
//!     cargo bench --profile dev --bench reliability
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --profile dev --bench reliability
//!
//! The server is the real `sendsongs` binary of the profile built
//! (`serve`, its own workers, JSON logs), started as `tests/app/crashes.rs`
//! starts it (`tests/app/binary.rs`): in a folder of its own, on a fresh
//! database, with Spotify (the sandbox's stand-in), Google's token
//! endpoint and FCM HTTP v1 as local fakes. FCM records every request it
//! receives, when it arrives (before it answers, after `FCM_DELAY_MS`): a
//! request that reached it counts even when the sender dies before the
//! answer, as it would on a phone.
//!
//! `RECIPIENTS` people, each with `DEVICES` Android devices and Spotify
//! linked, are friends of one sender. Each crash round the sender shares a
//! new track with every recipient: one "a friend shared a song" notice per
//! recipient, one push per device (`RECIPIENTS × DEVICES` pushes). Once
//! FCM has received half of them the server gets `SIGKILL`, then starts
//! again and finishes the fan-out (after the killed workers' job leases,
//! 60 s, run out). Per round:
//!
//! - lost: pushes of the round that never reached FCM (device, share),
//!   after the wait (`RECOVERY_S`) — must be 0;
//! - raw duplicates: requests beyond the first for the same device and
//!   notification (sent again because they may not have gone out);
//! - distinct-identity duplicates: a second identity (Android `tag`, APNs
//!   `apns-collapse-id`, Web Push `Topic`, checked equal) for the same
//!   device and notification, which a phone would show twice — must be 0.
//!
//! Settings (environment):
//!   RECIPIENTS          people notified each round         (default 15; at
//!                       most 50 shares an hour: RECIPIENTS × CRASHES ≤ 50)
//!   DEVICES             devices per person                 (default 20, the
//!                       most a person keeps: `devices::MAX_PER_USER`)
//!   CRASHES             crash rounds per database          (default 3)
//!   FCM_DELAY_MS        FCM's answer time                  (default 50)
//!   RECOVERY_S          longest wait after a restart       (default 300)
//!   BENCH_DATABASE_URL  postgres://… server: also run on PostgreSQL
//!   SQLITE=0            skip SQLite
//!   KEEP_DB=1           keep the databases (their URLs are printed)
#[path = "common/mod.rs"]
mod common;

#[path = "../../tests/app/binary.rs"]
#[allow(dead_code)]
mod binary;

/// What `binary` takes from the test harness.
mod helpers {
    pub const PASSWORD: &str = "correct horse battery";
}

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use binary::{Scratch, Server};
use common::{
    app::{MAX_DEVICES, ManualClock, ProviderSandbox, SHARES_PER_HOUR, SpotifySandbox, SystemClock, spotify_router},
    cpu::load_average,
    db::{BenchDatabase, drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted},
    env_or,
    fake::serve_on_own_thread,
};

const SHARE: &str = "mutation($to: String!, $t: String!) { shareSong(input: { to: $to, track: $t }) { id } }";

/// One push as FCM received it.
#[derive(Clone)]
struct Push {
    token: String,
    /// `data.type` and `data.shareId`: the notification.
    notification: (String, String),
    identity: String,
}

/// The fake FCM (and Google's token endpoint).
struct Fcm {
    delay: Duration,
    pushes: Mutex<Vec<Push>>,
}

impl Fcm {
    fn received(&self) -> Vec<Push> {
        self.pushes.lock().unwrap().clone()
    }
}

async fn google_token(Form(form): Form<HashMap<String, String>>) -> Response {
    assert!(form.contains_key("assertion"), "a JWT-bearer grant");
    Json(json!({ "access_token": "ya29.reliability", "expires_in": 3599, "token_type": "Bearer" })).into_response()
}

/// `messages:send`: recorded on arrival, answered after the delay.
async fn fcm_send(State(fcm): State<Arc<Fcm>>, Path(project): Path<String>, Json(body): Json<Value>) -> Response {
    let message = &body["message"];
    let identity = message["android"]["notification"]["tag"].as_str().unwrap_or_default();
    let same = [
        &message["apns"]["headers"]["apns-collapse-id"],
        &message["webpush"]["headers"]["Topic"],
    ]
    .iter()
    .all(|other| other.as_str() == Some(identity));
    let push = Push {
        token: message["token"].as_str().unwrap_or_default().to_owned(),
        notification: (
            message["data"]["type"].as_str().unwrap_or_default().to_owned(),
            message["data"]["shareId"].as_str().unwrap_or_default().to_owned(),
        ),
        // A platform given another identity counts as a distinct one.
        identity: if same {
            identity.to_owned()
        } else {
            format!("{identity}/mixed")
        },
    };
    let n = {
        let mut pushes = fcm.pushes.lock().unwrap();
        pushes.push(push);
        pushes.len()
    };
    tokio::time::sleep(fcm.delay).await;
    Json(json!({ "name": format!("projects/{project}/messages/{n}") })).into_response()
}

/// The server's settings: the fakes' URLs, fixed secrets.
struct Setup {
    vars: Vec<(String, String)>,
    fcm: Arc<Fcm>,
}

impl Setup {
    fn new(dir: &Scratch, database_url: &str) -> Self {
        let fcm = Arc::new(Fcm {
            delay: Duration::from_millis(env_or("FCM_DELAY_MS", 50)),
            pushes: Mutex::new(Vec::new()),
        });
        let base = serve_on_own_thread(
            Router::new()
                .route("/google/token", post(google_token))
                .route("/fcm/v1/projects/{project}/messages:send", post(fcm_send))
                .with_state(fcm.clone()),
        );
        let spotify = serve_on_own_thread(spotify_router(SpotifySandbox::new(Arc::new(SystemClock))));
        let credentials = dir.0.join("service-account.json");
        let google = ProviderSandbox::new(ManualClock::new());
        std::fs::write(
            &credentials,
            google.service_account_json(&format!("{base}/google/token")),
        )
        .unwrap();
        let vars = [
            ("DATABASE_URL", database_url.to_owned()),
            ("SANDBOX", "off".into()),
            ("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123".into()),
            ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            ("SPOTIFY_CLIENT_ID", "bench-client".into()),
            ("SPOTIFY_CLIENT_SECRET", "bench-client-secret".into()),
            ("SPOTIFY_ACCOUNTS_URL", format!("{spotify}/accounts")),
            ("SPOTIFY_API_URL", format!("{spotify}/api")),
            ("FCM_CREDENTIALS", credentials.to_str().unwrap().to_owned()),
            ("FCM_API_URL", format!("{base}/fcm")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        Self { vars, fcm }
    }

    async fn server(&self, dir: &Scratch) -> Server {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Server::start(dir, &vars).await
    }
}

/// One crash round's figures.
struct Round {
    expected: usize,
    at_kill: usize,
    requests: usize,
    lost: usize,
    raw_duplicates: usize,
    distinct_identity_duplicates: usize,
    recovery: Duration,
}

/// The figures of `pushes` (one round's) against the `expected` (device,
/// notification) pairs.
fn count(pushes: &[Push], expected: &BTreeSet<(String, String)>) -> (usize, usize, usize) {
    let mut identities: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut raw: BTreeMap<(String, String), usize> = BTreeMap::new();
    for push in pushes {
        let key = (push.token.clone(), push.notification.1.clone());
        identities.entry(key.clone()).or_default().insert(push.identity.clone());
        *raw.entry(key).or_default() += 1;
    }
    let lost = expected.iter().filter(|key| !raw.contains_key(*key)).count();
    let raw_duplicates = raw.values().map(|n| n - 1).sum();
    let distinct = identities.values().map(|ids| ids.len() - 1).sum();
    (lost, raw_duplicates, distinct)
}

async fn run(database: &BenchDatabase) -> Vec<Round> {
    let (recipients, devices) = (env_or("RECIPIENTS", 15usize), env_or("DEVICES", 20usize));
    let crashes = env_or("CRASHES", 3usize);
    assert!(devices <= MAX_DEVICES, "a person keeps at most {MAX_DEVICES} devices");
    assert!(
        (recipients * crashes) as u64 <= SHARES_PER_HOUR,
        "one sender shares at most {SHARES_PER_HOUR} songs an hour"
    );
    let recovery_limit = Duration::from_secs(env_or("RECOVERY_S", 300));
    let dir = Scratch::new();
    let setup = Setup::new(&dir, &database.url);
    let mut server = setup.server(&dir).await;

    let (sender, _) = server.sign_up("sender").await;
    let add = "mutation($h: String!) { addFriend(handle: $h) { status } }";
    // device token -> recipient handle
    let mut tokens = Vec::new();
    for r in 0..recipients {
        let handle = format!("listener{r}");
        let (token, _) = server.sign_up(&handle).await;
        server.graphql(add, json!({ "h": handle }), Some(&sender)).await;
        let accepted = server.graphql(add, json!({ "h": "sender" }), Some(&token)).await;
        assert_eq!(accepted["data"]["addFriend"]["status"], "ACCEPTED", "{accepted}");
        let connect = server
            .graphql("mutation { connectSpotify { url } }", json!({}), Some(&token))
            .await;
        let url = connect["data"]["connectSpotify"]["url"].as_str().unwrap();
        let page = reqwest::get(format!("{url}&sandbox_account=spot{r}")).await.unwrap();
        assert!(page.status().is_success(), "spotify linked");
        for d in 0..devices {
            let device = format!("device-{r}-{d}");
            let body = server
                .graphql(
                    "mutation($t: String!) { registerDevice(input: { token: $t, platform: ANDROID }) { id } }",
                    json!({ "t": device }),
                    Some(&token),
                )
                .await;
            assert!(body["data"]["registerDevice"].is_object(), "{body}");
            tokens.push(device);
        }
    }

    let mut rounds = Vec::new();
    for crash in 0..crashes {
        let before = setup.fcm.received().len();
        // A new track each round: a pending share of the same track would
        // answer the existing one.
        let track = format!(
            "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQ{}",
            (b'a' + crash as u8) as char
        );
        let mut shares = BTreeMap::new();
        for r in 0..recipients {
            let body = server
                .graphql(
                    SHARE,
                    json!({ "to": format!("listener{r}"), "t": track }),
                    Some(&sender),
                )
                .await;
            let id = body["data"]["shareSong"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("shared: {body}"))
                .to_owned();
            shares.insert(r, id);
        }
        let expected: BTreeSet<(String, String)> = tokens
            .iter()
            .map(|token| {
                let r: usize = token.split('-').nth(1).unwrap().parse().unwrap();
                (token.clone(), shares[&r].clone())
            })
            .collect();
        let half = before + expected.len() / 2;
        while setup.fcm.received().len() < half {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.signal("KILL");
        let at_kill = setup.fcm.received().len() - before;
        let (status, _) = server.ended().await;
        assert_eq!(status, None, "ended by the signal");

        let restarted = Instant::now();
        server = setup.server(&dir).await;
        let round = loop {
            let pushes = setup.fcm.received()[before..].to_vec();
            let (lost, raw_duplicates, distinct) = count(&pushes, &expected);
            if lost == 0 || restarted.elapsed() > recovery_limit {
                // What is still in flight lands within a few polls.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let pushes = setup.fcm.received()[before..].to_vec();
                let (lost, raw_duplicates, distinct) = count(&pushes, &expected);
                break Round {
                    expected: expected.len(),
                    at_kill,
                    requests: pushes.len(),
                    lost,
                    raw_duplicates,
                    distinct_identity_duplicates: distinct,
                    recovery: restarted.elapsed(),
                };
            }
            let _ = (raw_duplicates, distinct);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!(
            "{} crash {}: {} pushes, {} at the kill, {} requests; lost {}, raw duplicates {}, distinct identities {}, all out {:.1} s after the restart",
            database.label,
            crash + 1,
            round.expected,
            round.at_kill,
            round.requests,
            round.lost,
            round.raw_duplicates,
            round.distinct_identity_duplicates,
            round.recovery.as_secs_f64()
        );
        rounds.push(round);
    }
    server.stop().await;
    rounds
}

fn report(label: &str, rounds: &[Round]) {
    println!("\n{label}");
    println!(
        "| crash | pushes | received at the kill | requests | lost | raw duplicates | distinct-identity duplicates | all out after restart |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (n, round) in rounds.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            n + 1,
            round.expected,
            round.at_kill,
            round.requests,
            round.lost,
            round.raw_duplicates,
            round.distinct_identity_duplicates,
            round.recovery.as_secs_f64()
        );
    }
    let lost: usize = rounds.iter().map(|r| r.lost).sum();
    let distinct: usize = rounds.iter().map(|r| r.distinct_identity_duplicates).sum();
    let raw: Vec<String> = rounds.iter().map(|r| r.raw_duplicates.to_string()).collect();
    println!(
        "{label}: lost {lost} (must be 0), raw duplicates per crash {}, distinct-identity duplicates {distinct} (must be 0): {}",
        raw.join(", "),
        if lost == 0 && distinct == 0 { "met" } else { "NOT met" }
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("load average at the start: {}", load_average());
    let mut databases = Vec::new();
    if sqlite_wanted() {
        databases.push(fresh_sqlite("reliability"));
    }
    if let Some(server) = postgres_server() {
        databases.push(fresh_postgres(&server, "reliability", "PostgreSQL", &[]).await);
    }
    let mut met = true;
    for database in databases {
        let rounds = run(&database).await;
        report(database.label, &rounds);
        met &= rounds
            .iter()
            .all(|r| r.lost == 0 && r.distinct_identity_duplicates == 0);
        drop_database(database).await;
    }
    assert!(met, "receipts were lost or shown twice");
}
