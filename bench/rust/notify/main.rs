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
//! `app::spawn_workers` (the app's job runner) and the app's poll interval, as
//! `run_until_stopped` does. The fakes run on their own thread and runtime,
//! like a service elsewhere would.
//!
//! Latency (per database, on a database of its own): a sender with one
//! registered device and a linked Messenger sender inside the 24-hour window
//! (`last_message_at` = now), a recipient, a track. Each round inserts a
//! pending share, then calls `api::receipts::record_play` (what the
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
//! `Notifier::fan_out` in transactions of 1,000 events, exactly as
//! `record_play` writes them (rows plus `send_delivery` jobs). Then a fresh
//! app on that database starts N workers and the clock runs until every
//! delivery is SENT (the fakes' request counter is watched until every
//! request has arrived, then the rows are polled every 2 ms on a separate
//! connection). Between
//! runs the deliveries are made pending again and their jobs re-enqueued
//! (`SendDelivery::enqueue`, the same payload and dedupe key as
//! `fan_out`). Each row also shows the process's CPU time per delivery
//! (this process holds the app, SQLite and the fakes), on PostgreSQL the
//! CPU time of all `postgres` processes, and the app's database statements
//! per delivery (`Telemetry::statements_run`, claims included).
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
//!
//! Here: the settings, the app and the rows both parts use; `fakes.rs` the
//! providers and their bare rate; `latency.rs`; `backlog.rs` the throughput
//! runs' seeded deliveries and `throughput.rs` their drains.
#[path = "../common/mod.rs"]
mod common;

mod backlog;
mod fakes;
mod latency;
mod throughput;

use std::{path::Path as FsPath, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::{devices, messenger_links};
use sea_orm::Set;
use uuid::Uuid;

use common::{
    app::{self, App, Clock, LogFormat, ProviderSandbox, SystemClock},
    cpu::load_average,
    db::{BenchDatabase, drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted},
    env_counts, env_or,
};
use fakes::start_fakes;
use latency::{latency, print_latency};

/// The Send API's page access token, as the app is configured and the fake
/// expects.
const PAGE_TOKEN: &str = "bench-page-token";

/// The app on `database_url`, talking to the fakes; not serving HTTP.
async fn build_app(database_url: &str, fakes_url: &str, credentials: &FsPath, workers: usize) -> Arc<App> {
    let fcm = format!("{fakes_url}/fcm");
    let graph = format!("{fakes_url}/graph");
    let spotify_accounts = format!("{fakes_url}/spotify/accounts");
    let spotify_api = format!("{fakes_url}/spotify/api");
    let workers = workers.to_string();
    let settings = app::settings(
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
    let app = app::state(settings, Arc::new(SystemClock)).await;
    assert!(app::both_channels(&app), "both channels configured");
    app
}

/// A registered Android device of `user_id`.
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

/// A Messenger sender linked to `user_id`, inside the 24-hour window at `now`.
fn link_row(user_id: Uuid, psid: String, at: DateTime<Utc>, now: DateTime<Utc>) -> messenger_links::ActiveModel {
    messenger_links::ActiveModel {
        psid: Set(psid),
        user_id: Set(user_id),
        linked_at: Set(at),
        last_message_at: Set(Some(now)),
        unreachable_at: Set(None),
    }
}

/// A duration in milliseconds, two decimals.
fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    app::init_tracing(LogFormat::Pretty);
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
    let worker_counts = env_counts("WORKERS", "1,4,8,16");

    let (fakes_url, fakes) = start_fakes(delay);
    let credentials = std::env::temp_dir().join(format!("notify-bench-sa-{}.json", Uuid::new_v4().simple()));
    let providers = ProviderSandbox::new(Arc::new(SystemClock) as Arc<dyn Clock>);
    std::fs::write(
        &credentials,
        providers.service_account_json(&format!("{fakes_url}/google/token")),
    )?;

    // None: SQLite; Some(server): PostgreSQL.
    let mut targets: Vec<Option<String>> = Vec::new();
    if sqlite_wanted() {
        targets.push(None);
    }
    if let Some(server) = postgres_server() {
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
        if parts.contains("latency") {
            let database = fresh_database(target.as_deref()).await;
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
            let database = fresh_database(target.as_deref()).await;
            let outcome = throughput::run(
                &database,
                &fakes_url,
                &fakes,
                &credentials,
                total,
                &worker_counts,
                delay,
            )
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

/// A fresh database: SQLite for `None`, else one on the PostgreSQL `server`
/// (with `BENCH_SYNCHRONOUS_COMMIT`, a diagnostic of how much of the time
/// is waiting for WAL flushes, set on it).
async fn fresh_database(server: Option<&str>) -> BenchDatabase {
    let Some(server) = server else {
        return fresh_sqlite("notify");
    };
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
