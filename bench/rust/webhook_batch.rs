//! Webhook batch benchmark: one signed `POST /webhooks/messenger` carrying
//! 1,000 events (the most Meta batches into one POST), how long until it
//! is acknowledged, and whether every event was stored.
//!
//!     cargo bench --bench webhook_batch
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --bench webhook_batch
//!
//! The app is built in-process (`Application::build_with_clock`, system
//! clock, `JOB_WORKERS=0`: no job runs, so only the acknowledgement and
//! the storage are measured) and serves HTTP on a loopback port, on a
//! fresh database: an SQLite file in a temporary directory and, when
//! `BENCH_DATABASE_URL` names a PostgreSQL server, a fresh database there
//! (dropped at the end). One reqwest client in the same process posts.
//!
//! Two shapes of 1,000 events, each event from its own sender with its
//! own `mid` (new in every round, so every round stores 1,000 rows):
//!
//! - typical: a text message as Meta sends one (`send <link> to @alex`),
//!   some 330 bytes an event;
//! - largest: the largest event Meta's documentation allows
//!   (`api::webhook::MAX_EVENT_BYTES`): a 2,000-character text of emoji
//!   written as escaped surrogate pairs, replying to a message, with an
//!   ad's referral and a shared link, some 25.5 KB an event, 25.5 MB a POST.
//!
//! Each round, in alternating order, posts the body signed (the
//! acknowledgement: signature, parsing, one transaction storing 1,000
//! events and queueing 1,000 senders' jobs, then `200`) and the same bytes
//! with a wrong signature (the baseline, measured in the same run:
//! receiving and buffering the body and checking its signature, then
//! `403`; what any webhook must spend on such a body), and one signed POST
//! of a single event. After each signed batch the rows of
//! `messenger_inbox` are counted: every round must add exactly 1,000.
//!
//! Settings (environment):
//!   ROUNDS              measured rounds per shape          (default 10)
//!   WARMUP              unmeasured rounds first            (default 1)
//!   BENCH_DATABASE_URL  postgres://… server: also run on PostgreSQL
//!   SQLITE=0            skip SQLite
//!   KEEP_DB=1           keep the databases (their URLs are printed)
#[path = "common/mod.rs"]
mod common;

use std::{sync::Arc, time::Duration, time::Instant};

use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use sha2::Sha256;

use common::{
    app::{self, MAX_EVENT_BYTES, SystemClock, WEBHOOK_BODY_LIMIT},
    cpu::load_average,
    db::{BenchDatabase, drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted},
    env_or,
    stats::percentile,
};

const SECRET: &str = "bench-app-secret";
const PAGE: &str = "104872931258841";
const EVENTS: usize = 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Typical,
    Largest,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Self::Typical => "typical text",
            Self::Largest => "largest documented",
        }
    }

    /// Event `n` of round `round`: its own sender and mid.
    fn event(self, round: usize, n: usize) -> Value {
        let psid = format!("{}", 7_100_000_000_000_000u64 + (round * EVENTS + n) as u64);
        let mid = format!("m_r{round:03}_{n:04}_{}", "x".repeat(74));
        let timestamp = 1_789_466_400_000i64 + (round * EVENTS + n) as i64;
        let message = match self {
            Self::Typical => json!({ "mid": mid,
                "text": "send https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC to @alex loud one" }),
            Self::Largest => json!({
                "mid": mid,
                "text": TEXT_MARK,
                "reply_to": { "mid": format!("m_{}", "r".repeat(86)), "is_self_reply": false },
                "referral": { "ref": "autumn-launch", "ad_id": "120213456789012345", "source": "ADS",
                    "type": "OPEN_THREAD", "ads_context_data": {
                        "ad_title": "Know when they press play",
                        "photo_url": format!("https://scontent.xx.fbcdn.net/v/t1.15752-9/{}.jpg?_nc_cat=106&ccb=1-7&_nc_sid=fc17b8&_nc_ohc=Qx7kP2mZ9wAQ7kNvgF3xYzA&_nc_ht=scontent.xx&oh=03_26hZALta-Ug&oe=6A1F2C3D", "7".repeat(60)),
                        "video_url": format!("https://scontent.xx.fbcdn.net/v/t1.15752-9/{}.mp4?_nc_cat=107&ccb=1-7&_nc_sid=fc17b8&_nc_ohc=Qx7kP2mZ9wAQ7kNvgF3xYzA&_nc_ht=scontent.xx&oh=03_I381kxEDjv3&oe=6A1F2C3D", "8".repeat(60)),
                        "post_id": "104872931258841_1192837465019283" } },
                "attachments": [{ "type": "fallback", "payload": {
                    "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fopen.spotify.com%2Ftrack%2F02M6vucOvmRfMxTXDUwRXu%3Fsi%3D6f1c2a8b9d3e4f50&h=ATHhiWavsZdoD73vPHZ15CSzKYbwSZQSa4Fjp0GdeK7Okg5KRH1Nh_K5JaAAezGK&s=1&enc=AZdBRNuSdtBcsTzyVBI5grTDMRwSVnX2GBvwNloyoiChSX7MI2rcjrzuj8MKE0KEScTnnaPzGfYbZrkE1kgcrMM2AV6xYWIk",
                    "title": "7/11" } }],
            }),
        };
        json!({ "sender": { "id": psid }, "recipient": { "id": PAGE }, "timestamp": timestamp, "message": message })
    }

    /// The POST of round `round`: `count` events, one per entry, written
    /// as Meta writes JSON: compact, every character beyond ASCII escaped
    /// (the largest events' 2,000 emoji as `\uXXXX` surrogate pairs).
    fn body(self, round: usize, count: usize) -> String {
        let entry: Vec<Value> = (0..count)
            .map(|n| json!({ "id": PAGE, "time": 1_789_466_400_412i64, "messaging": [self.event(round, n)] }))
            .collect();
        json!({ "object": "page", "entry": entry }).to_string().replace(
            &format!("\"{TEXT_MARK}\""),
            &format!("\"{}\"", "\\ud83c\\udfa7".repeat(2000)),
        )
    }
}

/// Stands for the largest events' text until the body is written.
const TEXT_MARK: &str = "the text";

fn sign(body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Posts `body` with `signature`; answers the status and how long until
/// the answer's headers arrived.
async fn post(client: &reqwest::Client, url: &str, body: &str, signature: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (status, elapsed)
}

async fn stored(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM messenger_inbox",
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("a count")
}

/// One shape's measurements on one database.
struct Measured {
    bytes: usize,
    baseline: Vec<Duration>,
    acks: Vec<Duration>,
    single: Vec<Duration>,
    /// Rounds whose 1,000 events were all stored.
    whole: usize,
    rounds: usize,
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    db: &DatabaseConnection,
    shape: Shape,
    first_round: usize,
    warmup: usize,
    rounds: usize,
) -> anyhow::Result<Measured> {
    let url = format!("{base}/webhooks/messenger");
    let wrong = format!("sha256={}", "0".repeat(64));
    let mut measured = Measured {
        bytes: 0,
        baseline: Vec::new(),
        acks: Vec::new(),
        single: Vec::new(),
        whole: 0,
        rounds,
    };
    for index in 0..warmup + rounds {
        let round = first_round + index;
        let body = shape.body(round, EVENTS);
        anyhow::ensure!(body.len() <= WEBHOOK_BODY_LIMIT, "{} bytes over the limit", body.len());
        let signature = sign(&body);
        let single = shape.body(round + 500, 1);
        let before = stored(db).await;
        let refused_first = index % 2 == 0;
        if refused_first {
            let (status, took) = post(client, &url, &body, &wrong).await;
            anyhow::ensure!(status == 403, "a wrongly signed batch answered {status}");
            if index >= warmup {
                measured.baseline.push(took);
            }
        }
        let (status, took) = post(client, &url, &body, &signature).await;
        anyhow::ensure!(status == 200, "the signed batch answered {status}");
        let after = stored(db).await;
        if !refused_first {
            let (status, took) = post(client, &url, &body, &wrong).await;
            anyhow::ensure!(status == 403, "a wrongly signed batch answered {status}");
            if index >= warmup {
                measured.baseline.push(took);
            }
        }
        let (status, single_took) = post(client, &url, &single, &sign(&single)).await;
        anyhow::ensure!(status == 200, "the single event answered {status}");
        if index >= warmup {
            measured.bytes = body.len();
            measured.acks.push(took);
            measured.single.push(single_took);
            if after - before == EVENTS as i64 {
                measured.whole += 1;
            } else {
                eprintln!("round {round}: {} of {EVENTS} events stored", after - before);
            }
        }
    }
    Ok(measured)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print_row(database: &str, shape: Shape, m: &mut Measured) {
    m.baseline.sort();
    m.acks.sort();
    m.single.sort();
    let (base, ack) = (percentile(&m.baseline, 0.5), percentile(&m.acks, 0.5));
    println!(
        "| {database} | {} | {:.2} MB | {} | {} | {} | {:.0} µs | {:.2}× | {} | {}/{} |",
        shape.label(),
        m.bytes as f64 / 1e6,
        ms(base),
        ms(ack),
        ms(percentile(&m.acks, 1.0)),
        ack.as_secs_f64() * 1e6 / EVENTS as f64,
        ack.as_secs_f64() / base.as_secs_f64(),
        ms(percentile(&m.single, 0.5)),
        m.whole,
        m.rounds,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = env_or("ROUNDS", 10);
    let warmup: usize = env_or("WARMUP", 1);
    let mut databases: Vec<BenchDatabase> = Vec::new();
    if sqlite_wanted() {
        databases.push(fresh_sqlite("webhook"));
    }
    if let Some(server) = postgres_server() {
        databases.push(fresh_postgres(&server, "webhook", "PostgreSQL", &[]).await);
    }
    println!(
        "webhook batch bench: {EVENTS} events a POST, body limit {WEBHOOK_BODY_LIMIT} bytes \
         ({MAX_EVENT_BYTES} an event), {rounds} rounds after {warmup}, {} CPUs, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "\n| database | events | body | baseline p50 ms (403) | ack p50 ms | ack max ms | per event | ratio | 1-event POST p50 ms | all stored |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let mut failure = None;
    for database in databases {
        let settings = app::settings(&database.url, &[("MESSENGER_APP_SECRET", SECRET)]);
        let (base, _state, stop, server) = app::serve(settings, Arc::new(SystemClock)).await;
        let db = Database::connect(&database.url).await?;
        for (index, shape) in [Shape::Typical, Shape::Largest].into_iter().enumerate() {
            match measure(&client, &base, &db, shape, index * 100, warmup, rounds).await {
                Ok(mut measured) => print_row(database.label, shape, &mut measured),
                Err(err) => {
                    eprintln!("{} {}: {err:#}", database.label, shape.label());
                    failure = Some(err);
                }
            }
        }
        db.close().await.ok();
        let _ = stop.send(());
        let _ = server.await;
        drop_database(database).await;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
