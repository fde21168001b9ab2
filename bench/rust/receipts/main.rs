//! Receipts benchmark: 2,000 recipients each get a share, open it and play
//! it at random moments, against a fake Spotify whose `recently-played`
//! lists a play minutes late. Measured: the time from each play's
//! 30-second mark to the PLAYED `shareActivity` event reaching its sender's
//! WebSocket, and the Spotify calls per receipt; once with live checks (the
//! settings' `LIVE_WINDOW`/`LIVE_INTERVAL`), once without (`LIVE_WINDOW=0s`:
//! `recently-played` only, as before live checks), the baseline.
//!
//!     cargo bench --bench receipts
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --bench receipts
//!
//! The moved clock drives it. The app is built in-process on a fresh
//! database with a `ManualClock` and serves on a local port (so the senders'
//! subscriptions are real WebSockets, and on PostgreSQL events go through
//! `NOTIFY`), with no workers of its own. The bench advances the clock one
//! step at a time (1 s); at each step it opens the shares due to be opened
//! (`detection::live::open`, what the tracked link and `markShareOpened`
//! call), runs every job due (the app's runner, as its workers would), and
//! waits until every PLAYED event recorded so far has reached its sender
//! before moving on, so an event's time is the step its play was recorded
//! in. A job therefore runs in the step it falls due: a server's workers
//! find due jobs within `JOB_POLL_INTERVAL` (1 s) or at once when woken,
//! which the step stands for. The fake reads the same clock: a play's
//! progress and when its history lists it follow it. How long each step
//! took for real is reported too: below 1 s, a server does that work in
//! real time.
//!
//! Settings (environment):
//!   RECIPIENTS        recipients, each with one share from a sender of their own (default 2000)
//!   OPEN_WITHIN_S     each opens their share 60 s to this long after it was made   (default 3600)
//!   PLAY_WITHIN_S     and starts playing it 5 s to this long after opening         (default 300)
//!   LAG_MIN_S         recently-played lists a play this long after it counted...   (default 120)
//!   LAG_MAX_S         ...to this long (uniform, per play)                         (default 480)
//!   LIVE_WINDOW       the app's setting for the live run                           (default 10m)
//!   LIVE_INTERVAL     the app's setting for the live run                           (default 15s)
//!   BASELINE=0        skip the run without live checks
//!   SPOTIFY_DELAY_MS  added to every fake call (real time)                         (default 20)
//!   STEP_MS           the clock's step                                            (default 1000)
//!   SEED              of the random moments                                       (default 1)
//!   BENCH_DATABASE_URL  postgres://… server: also run on PostgreSQL; SQLITE=0 skips SQLite
//!   KEEP_DB=1         keep the databases
#[path = "../common/mod.rs"]
mod common;
mod fake;
mod listeners;
mod scenario;

use std::time::{Duration, Instant};

use chrono::TimeDelta;

use common::{
    cpu::{load_average, own_cpu, postgres_cpu_ticks, ticks_to_duration},
    db::{BenchDatabase, drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted},
    env_or,
    stats::percentile,
};
use scenario::{Outcome, Scenario};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = Scenario::from_env();
    let baseline = std::env::var("BASELINE").ok().as_deref() != Some("0");
    let live_window = std::env::var("LIVE_WINDOW").unwrap_or_else(|_| "10m".into());
    let live_interval = std::env::var("LIVE_INTERVAL").unwrap_or_else(|_| "15s".into());
    let mut modes = vec![("live checks", live_window.clone())];
    if baseline {
        modes.push(("recently-played only", "0s".to_owned()));
    }
    println!(
        "receipts: {} recipients open their share within {} s and play it 5 to {} s later; recently-played lags {} to {} s; \
         LIVE_WINDOW={live_window} LIVE_INTERVAL={live_interval}; clock step {} ms; seed {}; load average {}",
        scenario.recipients,
        scenario.open_within.num_seconds(),
        scenario.play_within.num_seconds(),
        scenario.lag_min.num_seconds(),
        scenario.lag_max.num_seconds(),
        scenario.step.num_milliseconds(),
        scenario.seed,
        load_average()
    );
    println!(
        "\n| database | mode | receipts | p50 s | p90 s | p99 s | max s | found live / from history | currently-playing | \
         recently-played | calls per receipt | jobs | real time | busiest second (real) | CPU: bench / PostgreSQL |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|");
    let mut summary = Vec::new();
    for kind in databases() {
        let mut pair = Vec::new();
        for (mode, window) in &modes {
            let database = fresh(kind).await;
            let settings = [
                ("LIVE_WINDOW", window.as_str()),
                ("LIVE_INTERVAL", live_interval.as_str()),
            ];
            let cpu = own_cpu();
            let postgres_cpu = postgres_cpu_ticks();
            let outcome = scenario.run(&database, &settings).await?;
            let cpu = (own_cpu() - cpu, ticks_to_duration(postgres_cpu_ticks() - postgres_cpu));
            println!("{}", row(database.label, mode, &outcome, cpu));
            pair.push((database.label, *mode, outcome));
            drop_database(database).await;
        }
        summary.push(pair);
    }
    println!();
    for pair in &summary {
        if let [(label, _, live), (_, _, history)] = pair.as_slice() {
            println!(
                "{label}: live / recently-played only: p50 {:.3}, p99 {:.3}; calls per receipt {:.1} / {:.1}",
                quantile(&live.latencies, 0.5) / quantile(&history.latencies, 0.5).max(f64::EPSILON),
                quantile(&live.latencies, 0.99) / quantile(&history.latencies, 0.99).max(f64::EPSILON),
                live.calls_per_receipt(),
                history.calls_per_receipt()
            );
        }
        for (label, mode, outcome) in pair {
            for problem in outcome.problems() {
                println!("PROBLEM: {label}, {mode}: {problem}");
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

fn databases() -> Vec<Kind> {
    let mut kinds = Vec::new();
    if sqlite_wanted() {
        kinds.push(Kind::Sqlite);
    }
    if postgres_server().is_some() {
        kinds.push(Kind::Postgres);
    }
    kinds
}

async fn fresh(kind: Kind) -> BenchDatabase {
    match (kind, postgres_server()) {
        (Kind::Postgres, Some(server)) => fresh_postgres(&server, "receipts", "PostgreSQL", &[]).await,
        _ => fresh_sqlite("receipts"),
    }
}

/// The nearest-rank quantile of `values` (seconds).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, q)
}

fn row(label: &str, mode: &str, o: &Outcome, (cpu, postgres): (Duration, Duration)) -> String {
    let busiest = o.step_walls.iter().max().copied().unwrap_or_default();
    format!(
        "| {label} | {mode} | {}/{} | **{:.1}** | {:.1} | **{:.1}** | {:.1} | {} / {} | {} | {} | **{:.1}** | {} | {:.0} s for {:.0} simulated min | {} ms | {:.0} s / {:.0} s |",
        o.latencies.len(),
        o.recipients,
        quantile(&o.latencies, 0.5),
        quantile(&o.latencies, 0.9),
        quantile(&o.latencies, 0.99),
        quantile(&o.latencies, 1.0),
        o.found_live,
        o.latencies.len() - o.found_live,
        o.calls.0,
        o.calls.1,
        o.calls_per_receipt(),
        o.jobs,
        o.real.as_secs_f64(),
        o.simulated.num_seconds() as f64 / 60.0,
        busiest.as_millis(),
        cpu.as_secs_f64(),
        postgres.as_secs_f64(),
    )
}

/// How long after an instant, in seconds.
fn seconds(delta: TimeDelta) -> f64 {
    delta.num_milliseconds() as f64 / 1000.0
}

/// Real time since `started`.
fn since(started: Instant) -> Duration {
    started.elapsed()
}

/// `name` as whole seconds (`default` when unset).
fn env_seconds(name: &str, default: i64) -> TimeDelta {
    TimeDelta::seconds(env_or(name, default))
}
