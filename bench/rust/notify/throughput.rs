//! Throughput: how fast workers drain a backlog of pending deliveries,
//! against the fakes' bare rate at the same concurrency.
use std::{
    collections::HashMap,
    path::Path as FsPath,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use entity::deliveries::Status;
use sea_orm::{ActiveEnum as _, ConnectionTrait as _, Database, DatabaseConnection, Statement};

use crate::{
    backlog::{Seeded, make_pending_again, seed_backlog},
    build_app,
    common::{
        app::{self, App, SLOTS},
        cpu::{backend_cpu, backend_ticks, load_average, own_cpu},
        db::{BenchDatabase, vacuum},
        fake::wait_for,
    },
    fakes::{Fakes, baseline},
    ms,
};

/// How long a drain may take before it is reported as incomplete.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// The tables the runs write, vacuumed between runs on PostgreSQL.
const TABLES: &str = "users, devices, messenger_links, tracks, shares, play_events, deliveries, jobs";

/// Seeds a backlog of `total` deliveries on `database`, then drains it once
/// per worker count, printing a row for each.
pub async fn run(
    database: &BenchDatabase,
    fakes_url: &str,
    fakes: &Fakes,
    credentials: &FsPath,
    total: usize,
    worker_counts: &[usize],
    delay: Duration,
) -> anyhow::Result<()> {
    let seeder = build_app(&database.url, fakes_url, credentials, 0).await;
    let seeded = seed_backlog(&seeder, total / 2).await?;
    vacuum(&seeder.db, TABLES).await;
    print_throughput_header(database.label, &seeded);
    for (n, workers) in worker_counts.iter().enumerate() {
        if n > 0 {
            make_pending_again(&seeder.db).await?;
            vacuum(&seeder.db, TABLES).await;
        }
        let result = drain(database, fakes_url, fakes, credentials, *workers, seeded.deliveries).await?;
        print_throughput_row(&result, delay);
    }
    seeder.db.clone().close().await.ok();
    println!();
    println!("Target ≥ 1000 deliveries/s. Ideal = in flight / provider delay (no database, no CPU cost).");
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
    let postgres = app::is_postgres(&app.db);
    let load = load_average();
    let (requests_before, tokens_before) = (fakes.provider_requests(), fakes.tokens.load(Ordering::Relaxed));
    let statements_before = app::statements_run(&app);
    let jobs_before = send_job_seconds(&app);
    let pg_before = if postgres {
        Some(backend_ticks(&monitor).await)
    } else {
        None
    };
    let cpu_before = own_cpu();
    let started = Instant::now();
    let handles = app::spawn_workers(&app, workers);
    // Until the fakes have seen every request, watch their counter (free);
    // then the database, until no delivery is pending or being sent (a
    // SENDING row's request is out, its answer not yet recorded). Counting
    // rows every few milliseconds during the drain would cost as much CPU
    // as a worker.
    let seen = || fakes.provider_requests() - requests_before;
    wait_for(seen, total as u64, started, DRAIN_TIMEOUT).await;
    let mut counts;
    loop {
        counts = statuses(&monitor).await?;
        let pending = [Status::Pending, Status::Sending]
            .iter()
            .map(|status| counts.get(&status.to_value()).copied().unwrap_or(0))
            .sum::<i64>();
        if pending == 0 || started.elapsed() > DRAIN_TIMEOUT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let statements = app::statements_run(&app) - statements_before;
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
    app::stop(app, handles).await;
    monitor.close().await.ok();
    let sent = counts.get(&Status::Sent.to_value()).copied().unwrap_or(0);
    let mut other: Vec<String> = counts
        .iter()
        .filter(|(status, _)| **status != Status::Sent.to_value())
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    other.sort();
    let (baseline, baseline_cpu) = baseline(fakes_url, workers * SLOTS, total).await;
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
    let in_flight = r.workers * SLOTS;
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

/// `job_duration_seconds` for `send_delivery` so far: (sum, count), from
/// the process-wide Prometheus recorder.
fn send_job_seconds(app: &App) -> (f64, f64) {
    let text = app::metrics_text(app);
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("kind=\"send_delivery\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("job_duration_seconds_sum"), value("job_duration_seconds_count"))
}
