//! Notification benchmark: how soon a detected play reaches FCM and the Send
//! API, and how fast workers drain a backlog of pending deliveries, against
//! local fakes of Google's token endpoint, FCM HTTP v1 and the Send API that
//! each answer after `PROVIDER_DELAY_MS` (10 ms) with the documented success
//! bodies.
//!
//!     cargo bench --bench notify
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --bench notify
//!
//! The app is built in-process (`Application::build_with_clock` with the
//! system clock, settings from `Settings::from_vars`: `FCM_CREDENTIALS` a
//! service-account JSON whose `token_uri` is the fake, `FCM_API_URL`,
//! `MESSENGER_GRAPH_URL`, `MESSENGER_PAGE_TOKEN`) on a fresh database: an
//! SQLite file in a temporary directory and, when `BENCH_DATABASE_URL` names
//! a PostgreSQL server, a fresh database created there (dropped at the end).
//! The HTTP server is not started; background workers are started with
//! `api::startup::runner(..).start` and the app's poll interval, as
//! `run_until_stopped` does. The fakes run on their own thread and runtime,
//! like a service elsewhere would.
//!
//! Latency (per database, on a database of its own): a sender with one
//! registered device and a linked Messenger sender inside the 24-hour window
//! (`last_message_at` = now), a recipient, a track. Each round inserts a
//! pending share, then calls `api::detection::check::record_play` (what the
//! detection job does when it sees the play) with `LATENCY_WORKERS` idle
//! workers running; the fakes note the instant each push and message
//! arrives (before their 10 ms answer delay). A round ends when both
//! delivery rows are SENT and no `send_delivery` job is left (polled every
//! millisecond on a separate connection); then the server idles 10 ms.
//! Rounds are sequential; the first `WARMUP` are not counted (the first one
//! also fetches the FCM access token).
//!
//! Throughput (per database, on a database of its own, per worker count):
//! `DELIVERIES` pending
//! deliveries, half push and half Messenger (one device and one linked
//! Messenger sender per sender, one played share each), written by
//! `api::notify::fan_out` in transactions of 1,000 events, exactly as
//! `record_play` writes them (rows plus `send_delivery` jobs). Then a fresh
//! app on that database starts N workers and the clock runs until every
//! delivery is SENT (the fakes' request counter is watched until every
//! request has arrived, then the rows are polled every 2 ms on a separate
//! connection). Between
//! runs the deliveries are made pending again and their jobs re-enqueued
//! (`api::jobs::queue::enqueue`, the same payload and dedupe key as
//! `fan_out`). Each row also shows the process's CPU time per delivery
//! (this process holds the app, SQLite and the fakes), on PostgreSQL the
//! CPU time of all `postgres` processes, and the app's database statements
//! per delivery (`App::statements_run`, claims included).
//!
//! The baseline on each row, measured right after the drain: the fakes' raw
//! rate with as many concurrent callers as the workers can have sends in
//! flight (N x 16, the worker's claim batch), alternating FCM and Send API
//! requests with bodies like the app's, on one reqwest client.
//!
//! Settings (environment):
//!   PARTS               latency,throughput                       (default both)
//!   LATENCY_ROUNDS      measured rounds                          (default 200)
//!   WARMUP              unmeasured rounds first                  (default 5)
//!   LATENCY_WORKERS     workers during the latency rounds        (default 8, JOB_WORKERS' default)
//!   DELIVERIES          pending deliveries to drain              (default 10000)
//!   WORKERS             worker counts, a comma list: one run each (default 1,4,8,16)
//!   PROVIDER_DELAY_MS   added to every fake answer               (default 10)
//!   BENCH_DATABASE_URL  postgres://… server: also run on PostgreSQL
//!   SQLITE=0            skip SQLite
//!   PREWARM_POOL=1      open the whole pool before the latency rounds (diagnostic)
//!   KEEP_DB=1           keep the databases (and print their URLs) to look into them
//!   BENCH_SYNCHRONOUS_COMMIT  PostgreSQL: set synchronous_commit on the bench database (diagnostic)
//!   RUST_LOG            log filter                               (default warn)
#[path = "common.rs"]
mod common;

use std::{
    collections::HashMap,
    path::Path as FsPath,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use api::{
    App, Application,
    clock::{Clock, SystemClock},
    config::LogFormat,
    jobs::Job as _,
    notify::{Notice, send::SendDelivery},
};
use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    deliveries::{self, EventKind, Status as DeliveryStatus},
    devices, jobs, messenger_links, play_events, shares, tracks, users,
};
use sea_orm::{
    ActiveEnum as _, ColumnTrait as _, ConnectionTrait as _, Database, DatabaseConnection, EntityTrait as _,
    IntoActiveModel as _, PaginatorTrait as _, QueryFilter as _, QuerySelect as _, Set, Statement,
    TransactionTrait as _, sea_query::Expr,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use common::{
    BenchDatabase, drop_database, env_or, fresh_postgres, fresh_sqlite, load_average, serve_on_own_thread, user_row,
};

/// `api::jobs::worker`'s claim batch (a private constant there).
const CLAIM_BATCH: usize = 16;
/// Rows per INSERT statement, and events per fan-out transaction, while seeding.
const INSERT_ROWS: usize = 1000;
const PAGE_TOKEN: &str = "bench-page-token";
/// How long a drain may take before it is reported as incomplete.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// The latency rounds' track, apart from the backlog's.
const LATENCY_TRACK: usize = 1_000_000;

// ---------------------------------------------------------------- the fakes

/// A push or message as the fake saw it arrive.
struct Arrival {
    channel: &'static str,
    target: String,
    at: Instant,
}

struct Fakes {
    delay: Duration,
    tokens: AtomicU64,
    pushes: AtomicU64,
    messages: AtomicU64,
    /// Arrivals are reported here while a latency run listens.
    listener: Mutex<Option<mpsc::UnboundedSender<Arrival>>>,
}

impl Fakes {
    fn arrived(&self, channel: &'static str, target: String) {
        let at = Instant::now();
        if let Some(listener) = self.listener.lock().unwrap().as_ref() {
            let _ = listener.send(Arrival { channel, target, at });
        }
    }

    fn provider_requests(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed) + self.messages.load(Ordering::Relaxed)
    }
}

/// Google's token endpoint, FCM v1 `messages:send` and the Send API, on
/// their own thread and single-threaded runtime.
fn start_fakes(delay: Duration) -> (String, Arc<Fakes>) {
    let fakes = Arc::new(Fakes {
        delay,
        tokens: AtomicU64::new(0),
        pushes: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        listener: Mutex::new(None),
    });
    let router = Router::new()
        .route("/google/token", post(google_token))
        .route("/fcm/v1/projects/{project}/messages:send", post(fcm_send))
        .route("/graph/me/messages", post(send_api))
        .with_state(fakes.clone());
    (serve_on_own_thread(router), fakes)
}

/// The JWT-bearer grant: an access token for an hour.
async fn google_token(State(fakes): State<Arc<Fakes>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let n = fakes.tokens.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(fakes.delay).await;
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || !form.contains_key("assertion")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "bad grant" })),
        )
            .into_response();
    }
    Json(json!({ "access_token": format!("ya29.bench-{n}"), "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Success: `{"name": "projects/{project}/messages/{id}"}`.
async fn fcm_send(
    State(fakes): State<Arc<Fakes>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
    if !bearer(&headers).starts_with("Bearer ya29.bench-") || token.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": { "code": 400, "message": "bench fake: bad request", "status": "INVALID_ARGUMENT" } }),
            ),
        )
            .into_response();
    }
    let n = fakes.pushes.fetch_add(1, Ordering::Relaxed) + 1;
    fakes.arrived("push", token);
    tokio::time::sleep(fakes.delay).await;
    Json(json!({ "name": format!("projects/{project}/messages/{n}") })).into_response()
}

/// Success: `{"recipient_id": …, "message_id": …}`.
async fn send_api(State(fakes): State<Arc<Fakes>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let psid = body["recipient"]["id"].as_str().unwrap_or("").to_owned();
    if bearer(&headers) != format!("Bearer {PAGE_TOKEN}") || psid.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": "bench fake: bad request", "type": "OAuthException", "code": 100 } })),
        )
            .into_response();
    }
    let n = fakes.messages.fetch_add(1, Ordering::Relaxed) + 1;
    fakes.arrived("messenger", psid.clone());
    tokio::time::sleep(fakes.delay).await;
    Json(json!({ "recipient_id": psid, "message_id": format!("m_bench{n}") })).into_response()
}

const BASELINE_SONG: &str = "“Track” by Bench Artist";
const BASELINE_URL: &str = "https://open.spotify.com/track/benchtrack000000000001";

/// An FCM v1 message shaped like the app's.
fn push_body(n: u64) -> Value {
    json!({ "message": {
        "token": format!("bench-device-{n}"),
        "notification": {
            "title": "bench played your song",
            "body": format!("{BASELINE_SONG}, 5 min after you shared it"),
        },
        "data": { "type": "share_played", "shareId": Uuid::now_v7().to_string(), "url": BASELINE_URL },
        "android": { "priority": "HIGH", "notification": { "channel_id": "receipts" } },
        "apns": { "headers": { "apns-priority": "10", "apns-push-type": "alert" } },
        "webpush": { "headers": { "Urgency": "high" } },
    }})
}

/// A Send API text message shaped like the app's.
fn message_body(n: u64) -> Value {
    json!({
        "recipient": { "id": format!("bench-psid-{n}") },
        "messaging_type": "UPDATE",
        "message": { "text": format!("bench played {BASELINE_SONG}, 5 min after you shared it 🎧 {BASELINE_URL}") },
    })
}

/// The fakes' raw rate: `concurrency` callers, each sending in a loop,
/// alternating FCM and the Send API; answers requests per second and this
/// process's CPU time per request (client and fakes).
async fn baseline(fakes_url: &str, concurrency: usize, total: usize) -> (f64, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let fcm_url = format!("{fakes_url}/fcm/v1/projects/sendsongs-sandbox/messages:send");
    let graph_url = format!("{fakes_url}/graph/me/messages");
    let remaining = Arc::new(AtomicU64::new(total as u64));
    let cpu_before = own_cpu();
    let started = Instant::now();
    let callers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, fcm_url, graph_url, remaining) =
                (client.clone(), fcm_url.clone(), graph_url.clone(), remaining.clone());
            tokio::spawn(async move {
                let take = |n: u64| n.checked_sub(1);
                while let Ok(left) = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, take) {
                    let request = if left % 2 == 0 {
                        client
                            .post(&fcm_url)
                            .bearer_auth("ya29.bench-baseline")
                            .json(&push_body(left))
                    } else {
                        client
                            .post(&graph_url)
                            .bearer_auth(PAGE_TOKEN)
                            .json(&message_body(left))
                    };
                    let response = request.send().await.expect("the fake answers");
                    assert!(response.status().is_success(), "baseline: {}", response.status());
                    let _: Value = response.json().await.expect("fake JSON");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (rate, (own_cpu() - cpu_before) / total.max(1) as u32)
}

// ------------------------------------------------------------ the databases

/// The app on `database_url`, talking to the fakes; not serving HTTP.
async fn build_app(database_url: &str, fakes_url: &str, credentials: &FsPath, workers: usize) -> Arc<App> {
    let fcm = format!("{fakes_url}/fcm");
    let graph = format!("{fakes_url}/graph");
    let spotify_accounts = format!("{fakes_url}/spotify/accounts");
    let spotify_api = format!("{fakes_url}/spotify/api");
    let workers = workers.to_string();
    let settings = common::settings(
        database_url,
        &[
            ("SPOTIFY_ACCOUNTS_URL", spotify_accounts.as_str()),
            ("SPOTIFY_API_URL", spotify_api.as_str()),
            ("FCM_CREDENTIALS", credentials.to_str().unwrap()),
            ("FCM_API_URL", fcm.as_str()),
            ("MESSENGER_GRAPH_URL", graph.as_str()),
            ("MESSENGER_PAGE_TOKEN", PAGE_TOKEN),
            ("JOB_WORKERS", workers.as_str()),
        ],
    );
    let application = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .expect("the app builds");
    let app = application.state();
    assert_eq!(app.notify.channels(), (true, true), "both channels configured");
    app
}

/// Stops the workers (they finish what they hold) and closes the pool.
async fn stop(app: Arc<App>, workers: Vec<tokio::task::JoinHandle<()>>) {
    app.shutdown.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    app.db.clone().close().await.ok();
}

/// PostgreSQL: fresh statistics and no dead rows between runs.
async fn vacuum(db: &DatabaseConnection) {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared(
            "VACUUM ANALYZE users, devices, messenger_links, tracks, shares, play_events, deliveries, jobs",
        )
        .await
        .expect("vacuum");
    }
}

fn track_row(n: usize, at: DateTime<Utc>) -> tracks::ActiveModel {
    tracks::ActiveModel {
        id: Set(track_id(n)),
        name: Set(format!("Track {n}")),
        artists: Set(r#"["Bench Artist"]"#.into()),
        album: Set(Some("Bench Album".into())),
        duration_ms: Set(200_000),
        image_url: Set(None),
        fetched_at: Set(at),
    }
}

fn track_id(n: usize) -> String {
    format!("benchtrack{n:012}")
}

fn device_row(user_id: Uuid, token: String, at: DateTime<Utc>) -> devices::ActiveModel {
    devices::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token: Set(token),
        platform: Set(devices::Platform::Android),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

fn link_row(user_id: Uuid, psid: String, at: DateTime<Utc>, now: DateTime<Utc>) -> messenger_links::ActiveModel {
    messenger_links::ActiveModel {
        psid: Set(psid),
        user_id: Set(user_id),
        linked_at: Set(at),
        last_message_at: Set(Some(now)),
        unreachable_at: Set(None),
    }
}

// ------------------------------------------------------------------ figures

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// utime + stime of a `/proc/<pid>/stat` line, in clock ticks (1/100 s).
fn cpu_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}

/// CPU time used so far by this process (all threads).
fn own_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_ticks(&s))
        .map_or(Duration::ZERO, |(_, t)| ticks_to_duration(t))
}

/// CPU ticks used so far by each server process serving the bench database
/// (the backends of the app's pool and of the monitor connection; not the
/// WAL writer or checkpointer, which serve every database).
async fn backend_ticks(monitor: &DatabaseConnection) -> HashMap<i32, u64> {
    let rows = monitor
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        ))
        .await
        .unwrap_or_default();
    rows.iter()
        .filter_map(|row| row.try_get::<i32>("", "pid").ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, cpu_ticks(&stat)?.1))
        })
        .collect()
}

/// CPU time of the bench database's backends between two snapshots.
fn backend_cpu(before: &HashMap<i32, u64>, after: &HashMap<i32, u64>) -> Duration {
    ticks_to_duration(
        after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
            .sum(),
    )
}

/// `job_duration_seconds` for `send_delivery` so far: (sum, count), from
/// the process-wide Prometheus recorder.
fn send_job_seconds(app: &App) -> (f64, f64) {
    let text = app.telemetry.metrics.render();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("kind=\"send_delivery\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("job_duration_seconds_sum"), value("job_duration_seconds_count"))
}

// ------------------------------------------------------------------ latency

/// Connections open in the app's pool.
fn pool_size(db: &DatabaseConnection) -> u32 {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => db.get_postgres_connection_pool().size(),
        _ => db.get_sqlite_connection_pool().size(),
    }
}

/// A diagnostic (`PREWARM_POOL=1`): opens every connection the pool may
/// have before the rounds, so none is opened during them.
async fn prewarm_pool(db: &DatabaseConnection) {
    let held = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            let max = pool.options().get_max_connections();
            futures_util::future::join_all((0..max).map(|_| pool.acquire()))
                .await
                .len()
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            let max = pool.options().get_max_connections();
            futures_util::future::join_all((0..max).map(|_| pool.acquire()))
                .await
                .len()
        }
    };
    eprintln!("pool pre-warmed: {held} connections");
}

struct LatencyResult {
    push: Vec<Duration>,
    messenger: Vec<Duration>,
    both: Vec<Duration>,
    record: Vec<Duration>,
    sent: Vec<Duration>,
    statements: Vec<u64>,
    first: Option<(Duration, Duration)>,
    /// (round, record_play, push, message) of every measured round.
    rounds: Vec<(usize, Duration, Duration, Duration)>,
    /// Connections in the app's pool after the warm-up and at the end.
    pool_after_warmup: u32,
    pool_at_end: u32,
}

async fn latency(
    database: &BenchDatabase,
    fakes_url: &str,
    fakes: &Fakes,
    credentials: &FsPath,
    rounds: usize,
    warmup: usize,
    workers: usize,
) -> anyhow::Result<LatencyResult> {
    let app = build_app(&database.url, fakes_url, credentials, workers).await;
    let monitor = Database::connect(&database.url).await?;
    let now = app.clock.now();
    let long_ago = now - TimeDelta::days(30);
    let sender = Uuid::now_v7();
    let recipient = Uuid::now_v7();
    const DEVICE: &str = "bench-latency-device";
    const PSID: &str = "bench-latency-psid";
    users::Entity::insert_many([
        user_row(sender, "latsender", long_ago),
        user_row(recipient, "latrecipient", long_ago),
    ])
    .exec_without_returning(&app.db)
    .await?;
    tracks::Entity::insert(track_row(LATENCY_TRACK, long_ago))
        .exec_without_returning(&app.db)
        .await?;
    devices::Entity::insert(device_row(sender, DEVICE.into(), long_ago))
        .exec_without_returning(&app.db)
        .await?;
    messenger_links::Entity::insert(link_row(sender, PSID.into(), long_ago, now))
        .exec_without_returning(&app.db)
        .await?;

    if std::env::var("PREWARM_POOL").ok().as_deref() == Some("1") {
        prewarm_pool(&app.db).await;
    }
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    *fakes.listener.lock().unwrap() = Some(arrivals_tx);
    let handles = api::startup::runner(&app).start(app.settings.job_workers, app.settings.job_poll_interval);
    // Let the workers find the empty queue and go idle.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut result = LatencyResult {
        push: Vec::new(),
        messenger: Vec::new(),
        both: Vec::new(),
        record: Vec::new(),
        sent: Vec::new(),
        statements: Vec::new(),
        first: None,
        rounds: Vec::new(),
        pool_after_warmup: 0,
        pool_at_end: 0,
    };
    for round in 0..warmup + rounds {
        if round == warmup {
            result.pool_after_warmup = pool_size(&app.db);
        }
        let now = app.clock.now();
        let share = shares::Model {
            id: Uuid::now_v7(),
            sender_id: sender,
            recipient_id: recipient,
            track_id: track_id(LATENCY_TRACK),
            note: None,
            status: shares::Status::Pending,
            created_at: now - TimeDelta::minutes(5),
            played_at: None,
            expires_at: now + TimeDelta::days(7),
            next_check_at: Some(now + TimeDelta::minutes(5)),
            updated_at: now - TimeDelta::minutes(5),
        };
        shares::Entity::insert(share.clone().into_active_model())
            .exec_without_returning(&app.db)
            .await?;
        while arrivals.try_recv().is_ok() {}

        let statements_before = app.telemetry.statements_run();
        let started = Instant::now();
        api::detection::check::record_play(&app, &share, now - TimeDelta::minutes(1), app.clock.now()).await?;
        let recorded = started.elapsed();

        let (mut push, mut message) = (None, None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while push.is_none() || message.is_none() {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some(arrival)) => match (arrival.channel, arrival.target.as_str()) {
                    ("push", DEVICE) => push = Some(arrival.at - started),
                    ("messenger", PSID) => message = Some(arrival.at - started),
                    _ => {}
                },
                _ => {
                    anyhow::bail!("round {round}: no push or message within 10 s (push {push:?}, message {message:?})")
                }
            }
        }
        let (push, message) = (push.unwrap(), message.unwrap());

        // Wait for both rows to be SENT and the queue to be empty.
        loop {
            let sent = deliveries::Entity::find()
                .filter(deliveries::Column::ShareId.eq(share.id))
                .filter(deliveries::Column::Status.eq(DeliveryStatus::Sent))
                .count(&monitor)
                .await?;
            let queued = jobs::Entity::find()
                .filter(jobs::Column::Kind.eq(SendDelivery::KIND))
                .count(&monitor)
                .await?;
            if sent == 2 && queued == 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("round {round}: deliveries not SENT within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = started.elapsed();
        let statements = app.telemetry.statements_run() - statements_before;
        if round == 0 {
            result.first = Some((push, message));
        }
        if round >= warmup {
            result.rounds.push((round - warmup, recorded, push, message));
            result.push.push(push);
            result.messenger.push(message);
            result.both.push(push.max(message));
            result.record.push(recorded);
            result.sent.push(sent);
            result.statements.push(statements);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    *fakes.listener.lock().unwrap() = None;
    result.pool_at_end = pool_size(&app.db);
    stop(app, handles).await;
    monitor.close().await.ok();
    for list in [
        &mut result.push,
        &mut result.messenger,
        &mut result.both,
        &mut result.record,
        &mut result.sent,
    ] {
        list.sort();
    }
    Ok(result)
}

fn print_latency(label: &str, r: &LatencyResult, workers: usize) {
    println!();
    println!(
        "### Latency, {label}: play detected → provider request ({} rounds, {workers} idle workers, load {})",
        r.push.len(),
        load_average()
    );
    println!();
    println!("| from `record_play` called to … | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (what, list) in [
        ("FCM request at the fake", &r.push),
        ("Send API request at the fake", &r.messenger),
        ("both requests at the fakes", &r.both),
        ("`record_play` returned (commit)", &r.record),
        ("both rows SENT, queue empty (polled every 1 ms)", &r.sent),
    ] {
        println!(
            "| {what} | {} | {} | {} | {} |",
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.9)),
            ms(percentile(list, 0.99)),
            ms(percentile(list, 1.0))
        );
    }
    let mean_statements = r.statements.iter().sum::<u64>() as f64 / r.statements.len().max(1) as f64;
    println!();
    println!(
        "App statements per round (record_play + 2 deliveries + claims): {mean_statements:.1}; \
         first (cold) round: push {} ms, message {} ms.",
        r.first.map_or("-".into(), |f| ms(f.0)),
        r.first.map_or("-".into(), |f| ms(f.1)),
    );
    println!(
        "Pool connections: {} after the warm-up, {} at the end.",
        r.pool_after_warmup, r.pool_at_end
    );
    let mut slowest = r.rounds.clone();
    slowest.sort_by_key(|(_, _, push, message)| std::cmp::Reverse(*push.max(message)));
    println!(
        "Slowest rounds (round: record_play / push / message ms): {}.",
        slowest
            .iter()
            .take(5)
            .map(|(n, record, push, message)| format!("{n}: {} / {} / {}", ms(*record), ms(*push), ms(*message)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let limit = Duration::from_millis(100);
    let verdict = |list: &[Duration]| {
        if percentile(list, 0.99) < limit {
            "met"
        } else {
            "NOT met"
        }
    };
    let over = r.both.iter().filter(|d| **d >= limit).count();
    println!(
        "Target p99 < 100 ms: push p99 {} ms ({}), message p99 {} ms ({}), both p99 {} ms ({}); \
         {over} rounds with a request at or over 100 ms.",
        ms(percentile(&r.push, 0.99)),
        verdict(&r.push),
        ms(percentile(&r.messenger, 0.99)),
        verdict(&r.messenger),
        ms(percentile(&r.both, 0.99)),
        verdict(&r.both),
    );
}

// --------------------------------------------------------------- throughput

struct Seeded {
    deliveries: usize,
    seed: Duration,
    fan_out: Duration,
    fan_out_statements: u64,
}

/// `events` senders, each with a device, a linked Messenger sender in the
/// window and one played share; then `fan_out` for each play event.
async fn seed_backlog(app: &App, events: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let now = app.clock.now();
    let long_ago = now - TimeDelta::days(30);
    let shared_at = now - TimeDelta::minutes(30);
    let track_count = 100.min(events).max(1);
    let recipient_count = 100.min(events).max(1);
    let senders: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();
    let recipients: Vec<Uuid> = (0..recipient_count).map(|_| Uuid::now_v7()).collect();
    let share_ids: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();
    let event_ids: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();

    let txn = app.db.begin().await?;
    users::Entity::insert_many(
        recipients
            .iter()
            .enumerate()
            .map(|(n, id)| user_row(*id, &format!("benchr{n}"), long_ago)),
    )
    .exec_without_returning(&txn)
    .await?;
    tracks::Entity::insert_many((0..track_count).map(|n| track_row(n, long_ago)))
        .exec_without_returning(&txn)
        .await?;
    for start in (0..events).step_by(INSERT_ROWS) {
        let range = start..(start + INSERT_ROWS).min(events);
        users::Entity::insert_many(
            range
                .clone()
                .map(|n| user_row(senders[n], &format!("benchs{n}"), long_ago)),
        )
        .exec_without_returning(&txn)
        .await?;
        devices::Entity::insert_many(
            range
                .clone()
                .map(|n| device_row(senders[n], format!("bench-device-{n}"), long_ago)),
        )
        .exec_without_returning(&txn)
        .await?;
        messenger_links::Entity::insert_many(
            range
                .clone()
                .map(|n| link_row(senders[n], format!("bench-psid-{n}"), long_ago, now)),
        )
        .exec_without_returning(&txn)
        .await?;
        shares::Entity::insert_many(range.clone().map(|n| shares::ActiveModel {
            id: Set(share_ids[n]),
            sender_id: Set(senders[n]),
            recipient_id: Set(recipients[n % recipient_count]),
            track_id: Set(track_id(n % track_count)),
            note: Set(None),
            status: Set(shares::Status::Played),
            created_at: Set(shared_at),
            played_at: Set(Some(now - TimeDelta::minutes(1))),
            expires_at: Set(shared_at + TimeDelta::days(7)),
            next_check_at: Set(None),
            updated_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
        play_events::Entity::insert_many(range.map(|n| play_events::ActiveModel {
            id: Set(event_ids[n]),
            share_id: Set(share_ids[n]),
            played_at: Set(now - TimeDelta::minutes(1)),
            detected_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    let seed = started.elapsed();

    let started = Instant::now();
    let statements_before = app.telemetry.statements_run();
    let mut written = 0;
    for start in (0..events).step_by(INSERT_ROWS) {
        let txn = app.db.begin().await?;
        for n in start..(start + INSERT_ROWS).min(events) {
            let notice = Notice {
                user_id: senders[n],
                kind: EventKind::SharePlayed,
                event_id: event_ids[n],
                share_id: Some(share_ids[n]),
            };
            written += app.notify.fan_out(&txn, notice, now).await?;
        }
        txn.commit().await?;
    }
    let fan_out = started.elapsed();
    let fan_out_statements = app.telemetry.statements_run() - statements_before;
    anyhow::ensure!(
        written == 2 * events,
        "fan_out wrote {written} deliveries, not {}",
        2 * events
    );
    Ok(Seeded {
        deliveries: written,
        seed,
        fan_out,
        fan_out_statements,
    })
}

/// Every delivery pending again with its job queued, the window reopened.
async fn make_pending_again(db: &DatabaseConnection) -> anyhow::Result<()> {
    let now = Utc::now();
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(DeliveryStatus::Pending))
        .col_expr(deliveries::Column::Attempts, Expr::value(0))
        .col_expr(deliveries::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(
            deliveries::Column::ProviderMessageId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(deliveries::Column::SentAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .exec(db)
        .await?;
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::LastMessageAt, Expr::value(now))
        .exec(db)
        .await?;
    let ids: Vec<Uuid> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(INSERT_ROWS) {
        let txn = db.begin().await?;
        for id in chunk {
            SendDelivery { delivery_id: *id }.enqueue(&txn, now).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// Deliveries by status.
async fn statuses(db: &DatabaseConnection) -> anyhow::Result<HashMap<String, i64>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status",
        ))
        .await?;
    let mut counts = HashMap::new();
    for row in rows {
        counts.insert(row.try_get::<String>("", "status")?, row.try_get::<i64>("", "n")?);
    }
    Ok(counts)
}

struct DrainResult {
    workers: usize,
    deliveries: usize,
    sent: i64,
    other: String,
    elapsed: Duration,
    requests: u64,
    tokens: u64,
    statements: u64,
    cpu: Duration,
    postgres_cpu: Option<Duration>,
    /// Mean `send_delivery` job, from its start to its outcome recorded.
    job: Duration,
    baseline: f64,
    baseline_cpu: Duration,
    load: String,
}

impl DrainResult {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64()
    }
}

async fn drain(
    database: &BenchDatabase,
    fakes_url: &str,
    fakes: &Fakes,
    credentials: &FsPath,
    workers: usize,
    total: usize,
) -> anyhow::Result<DrainResult> {
    let app = build_app(&database.url, fakes_url, credentials, workers).await;
    let monitor = Database::connect(&database.url).await?;
    let postgres = app.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let load = load_average();
    let (requests_before, tokens_before) = (fakes.provider_requests(), fakes.tokens.load(Ordering::Relaxed));
    let statements_before = app.telemetry.statements_run();
    let jobs_before = send_job_seconds(&app);
    let pg_before = if postgres {
        Some(backend_ticks(&monitor).await)
    } else {
        None
    };
    let cpu_before = own_cpu();
    let started = Instant::now();
    let handles = api::startup::runner(&app).start(workers, app.settings.job_poll_interval);
    // Until the fakes have seen every request, watch their counter (free);
    // then the database, until no delivery is pending. Counting rows every
    // few milliseconds during the drain would cost as much CPU as a worker.
    while fakes.provider_requests() - requests_before < total as u64 && started.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut counts;
    loop {
        counts = statuses(&monitor).await?;
        let pending = counts.get(&DeliveryStatus::Pending.to_value()).copied().unwrap_or(0);
        if pending == 0 || started.elapsed() > DRAIN_TIMEOUT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let statements = app.telemetry.statements_run() - statements_before;
    let cpu = own_cpu() - cpu_before;
    let postgres_cpu = match &pg_before {
        Some(before) => Some(backend_cpu(before, &backend_ticks(&monitor).await)),
        None => None,
    };
    let requests = fakes.provider_requests() - requests_before;
    let tokens = fakes.tokens.load(Ordering::Relaxed) - tokens_before;
    let jobs_after = send_job_seconds(&app);
    let job =
        Duration::from_secs_f64(((jobs_after.0 - jobs_before.0) / (jobs_after.1 - jobs_before.1).max(1.0)).max(0.0));
    stop(app, handles).await;
    monitor.close().await.ok();
    let sent = counts.get(&DeliveryStatus::Sent.to_value()).copied().unwrap_or(0);
    let mut other: Vec<String> = counts
        .iter()
        .filter(|(status, _)| **status != DeliveryStatus::Sent.to_value())
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    other.sort();
    let (baseline, baseline_cpu) = baseline(fakes_url, workers * CLAIM_BATCH, total).await;
    Ok(DrainResult {
        workers,
        deliveries: total,
        sent,
        other: other.join(", "),
        elapsed,
        requests,
        tokens,
        statements,
        cpu,
        postgres_cpu,
        job,
        baseline,
        baseline_cpu,
        load,
    })
}

fn print_throughput_header(label: &str, seeded: &Seeded) {
    println!();
    println!(
        "### Throughput, {label}: draining {} pending deliveries (seeded in {:.1} s; fan_out of {} events in {:.1} s, {:.1} statements per event)",
        seeded.deliveries,
        seeded.seed.as_secs_f64(),
        seeded.deliveries / 2,
        seeded.fan_out.as_secs_f64(),
        seeded.fan_out_statements as f64 / (seeded.deliveries / 2) as f64,
    );
    println!();
    println!(
        "| workers | in flight max | deliveries/s | s | baseline req/s (same concurrency) | ratio | ideal req/s | mean job ms | statements/delivery | process CPU µs/delivery | baseline CPU µs/request | PostgreSQL backends CPU µs/delivery | load before | not SENT |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
}

fn print_throughput_row(r: &DrainResult, delay: Duration) {
    let per = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e6 / r.sent.max(1) as f64);
    let in_flight = r.workers * CLAIM_BATCH;
    println!(
        "| {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {} | {:.2} | {} | {:.0} | {} | {} | {} |",
        r.workers,
        in_flight,
        r.rate(),
        r.elapsed.as_secs_f64(),
        r.baseline,
        r.rate() / r.baseline,
        in_flight as f64 / delay.as_secs_f64(),
        ms(r.job),
        r.statements as f64 / r.sent.max(1) as f64,
        per(r.cpu),
        r.baseline_cpu.as_secs_f64() * 1e6,
        r.postgres_cpu.map_or("-".into(), per),
        r.load,
        if r.other.is_empty() {
            "-".to_owned()
        } else {
            r.other.clone()
        },
    );
    if r.requests as i64 != r.sent || r.sent as usize != r.deliveries {
        eprintln!(
            "warning: {} workers: {} provider requests, {} SENT of {} ({} token requests)",
            r.workers, r.requests, r.sent, r.deliveries, r.tokens
        );
    }
}

// --------------------------------------------------------------------- main

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    api::telemetry::init_tracing(LogFormat::Pretty);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "latency,throughput".into());
    let rounds: usize = env_or("LATENCY_ROUNDS", 200);
    let warmup: usize = env_or("WARMUP", 5);
    let latency_workers: usize = env_or("LATENCY_WORKERS", 8);
    let total: usize = env_or("DELIVERIES", 10_000);
    let delay = Duration::from_millis(env_or("PROVIDER_DELAY_MS", 10));
    let worker_counts: Vec<usize> = std::env::var("WORKERS")
        .unwrap_or_else(|_| "1,4,8,16".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();

    let (fakes_url, fakes) = start_fakes(delay);
    let credentials = std::env::temp_dir().join(format!("notify-bench-sa-{}.json", Uuid::new_v4().simple()));
    let providers = api::sandbox::providers::ProviderSandbox::new(Arc::new(SystemClock) as Arc<dyn Clock>);
    std::fs::write(
        &credentials,
        providers.service_account_json(&format!("{fakes_url}/google/token")),
    )?;

    // None: SQLite; Some(server): PostgreSQL.
    let mut targets: Vec<Option<String>> = Vec::new();
    if std::env::var("SQLITE").ok().as_deref() != Some("0") {
        targets.push(None);
    }
    if let Some(server) = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        targets.push(Some(server));
    }
    println!(
        "notify bench: provider delay {} ms, {} CPUs, load {}",
        delay.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    let mut failure = None;
    for target in &targets {
        let fresh = || async {
            match target {
                None => fresh_sqlite("notify"),
                Some(server) => {
                    // BENCH_SYNCHRONOUS_COMMIT, a diagnostic: how much of the
                    // time is waiting for WAL flushes.
                    match std::env::var("BENCH_SYNCHRONOUS_COMMIT") {
                        Ok(value) => {
                            let setup = [format!(
                                "ALTER DATABASE {{name}} SET synchronous_commit = '{}'",
                                value.trim()
                            )];
                            fresh_postgres(
                                server,
                                "notify",
                                "PostgreSQL (synchronous_commit from BENCH_SYNCHRONOUS_COMMIT)",
                                &setup,
                            )
                            .await
                        }
                        Err(_) => fresh_postgres(server, "notify", "PostgreSQL", &[]).await,
                    }
                }
            }
        };
        if parts.contains("latency") {
            let database = fresh().await;
            match latency(
                &database,
                &fakes_url,
                &fakes,
                &credentials,
                rounds,
                warmup,
                latency_workers,
            )
            .await
            {
                Ok(result) => print_latency(database.label, &result, latency_workers),
                Err(err) => {
                    eprintln!("{} latency: {err:#}", database.label);
                    failure = Some(err);
                }
            }
            drop_database(database).await;
        }
        if parts.contains("throughput") {
            let database = fresh().await;
            let outcome: anyhow::Result<()> = async {
                let seeder = build_app(&database.url, &fakes_url, &credentials, 0).await;
                let seeded = seed_backlog(&seeder, total / 2).await?;
                vacuum(&seeder.db).await;
                print_throughput_header(database.label, &seeded);
                for (n, workers) in worker_counts.iter().enumerate() {
                    if n > 0 {
                        make_pending_again(&seeder.db).await?;
                        vacuum(&seeder.db).await;
                    }
                    let result =
                        drain(&database, &fakes_url, &fakes, &credentials, *workers, seeded.deliveries).await?;
                    print_throughput_row(&result, delay);
                }
                seeder.db.clone().close().await.ok();
                println!();
                println!("Target ≥ 1000 deliveries/s. Ideal = in flight / provider delay (no database, no CPU cost).");
                Ok(())
            }
            .await;
            if let Err(err) = outcome {
                eprintln!("{} throughput: {err:#}", database.label);
                failure = Some(err);
            }
            drop_database(database).await;
        }
    }
    let _ = std::fs::remove_file(&credentials);
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
