//! Scheduler benchmark: 100,000 pending shares over 20,000 recipients (5
//! each), all due at once, checked against a local fake Spotify that adds
//! 20 ms to every call.
//!
//!     cargo bench --bench scheduler
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --bench scheduler
//!
//! The app is built in-process (`Application::build_with_clock`, its clock
//! frozen) against a fresh database: an SQLite file in a temporary
//! directory, and, when `BENCH_DATABASE_URL` names a PostgreSQL server, a
//! fresh database created on it (dropped at the end). Rows are inserted
//! directly (users, sealed Spotify links, tracks, shares, and one
//! `check_recipient` job per recipient). Then, for each worker count, an app
//! on that database starts that many of its own workers
//! (`app::spawn_workers`, as the server does) and runs until every
//! check job has run and been put back for its next check; the results are
//! checked (every job rescheduled without error, every share moved to its
//! next check, exactly one `recently-played` call per recipient, no token
//! refresh) and a markdown row is printed. Between runs the same rows are
//! made due again.
//!
//! The baseline on each row is the fake's bare rate: as many concurrent
//! callers as the workers can have checks in flight (workers x 16), each
//! calling `recently-played` in a loop.
//!
//! Settings (environment):
//!   RECIPIENTS            recipients                             (default 20000)
//!   SHARES_PER_RECIPIENT  pending shares per recipient           (default 5)
//!   WORKERS               worker counts, a comma list: one run each (default 1,4,8,16)
//!   SPOTIFY_DELAY_MS      added to every fake `recently-played`  (default 20)
//!   BENCH_DATABASE_URL    postgres://… server: also run on PostgreSQL
//!   SQLITE=0              skip SQLite
//!   KEEP_DB=1             keep the databases (their URLs are printed)
#[path = "common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::get, routing::post};
use chrono::{DateTime, TimeDelta, Utc};
use entity::{jobs, shares, spotify_links, tracks, users};
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, Set, TransactionTrait as _,
    sea_query::Expr,
};
use serde_json::{Value, json};
use uuid::Uuid;

use common::{
    app::{self, App, CheckRecipient, Job as _, ManualClock, SLOTS},
    cpu::{load_average, machine_cpu_ticks, own_cpu_ticks, postgres_cpu_ticks},
    db::{drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted, vacuum},
    env_counts, env_or,
    fake::{closed_loop, serve_on_own_thread, wait_for},
    rows::{INSERT_ROWS, spotify_link_row, track_id, track_row, user_row},
};

/// The job kind measured (the app also keeps one hourly sweep job, not due here).
const CHECK: &str = CheckRecipient::KIND;
/// Jobs one worker runs at once.
const CLAIM_BATCH: usize = SLOTS;
/// How long a drain may take before it is reported as it stands.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// The tables the runs write, vacuumed between runs on PostgreSQL.
const TABLES: &str = "users, spotify_links, shares, jobs";

#[derive(Default)]
struct FakeCounts {
    recently_played: AtomicU64,
    tokens: AtomicU64,
}

struct Fake {
    counts: FakeCounts,
    delay: Duration,
}

/// Spotify's accounts service and Web API, as far as checks need them.
/// Runs on its own thread and runtime, like a service elsewhere would.
fn start_fake_spotify(delay: Duration) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        counts: FakeCounts::default(),
        delay,
    });
    let router = Router::new()
        .route("/accounts/api/token", post(token))
        .route("/api/v1/me/player/recently-played", get(recently_played))
        .with_state(fake.clone());
    (serve_on_own_thread(router), fake)
}

/// refresh_token and client_credentials alike: a fresh token for an hour.
async fn token(State(fake): State<Arc<Fake>>) -> Json<Value> {
    let n = fake.counts.tokens.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "access_token": format!("fresh-{n}"), "token_type": "Bearer", "expires_in": 3600 }))
}

async fn recently_played(State(fake): State<Arc<Fake>>) -> Json<Value> {
    tokio::time::sleep(fake.delay).await;
    fake.counts.recently_played.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "items": [] }))
}

async fn build_app(database_url: &str, fake_url: &str, clock: Arc<ManualClock>) -> Arc<App> {
    let accounts = format!("{fake_url}/accounts");
    let api_url = format!("{fake_url}/api");
    let settings = app::settings(
        database_url,
        &[
            ("SPOTIFY_ACCOUNTS_URL", accounts.as_str()),
            ("SPOTIFY_API_URL", api_url.as_str()),
            // History checks only: live looks at currently-playing (a new
            // share's first minutes) are measured by the receipts and budget
            // benchmarks.
            ("LIVE_WINDOW", "0s"),
        ],
    );
    app::state(settings, clock).await
}

struct Seeded {
    recipients: usize,
    shares: usize,
    due_at: DateTime<Utc>,
}

/// Users, sealed Spotify links, tracks, pending due shares and one check job
/// per recipient, in multi-row INSERTs inside transactions.
async fn seed(app: &App, recipients: usize, per_recipient: usize) -> anyhow::Result<Seeded> {
    let now = app.clock.now();
    let created_at = now - TimeDelta::minutes(10);
    let due_at = now - TimeDelta::minutes(1);
    let user_ids: Vec<Uuid> = (0..recipients).map(|_| Uuid::now_v7()).collect();

    let txn = app.db.begin().await?;
    for (chunk_start, chunk) in user_ids
        .chunks(INSERT_ROWS)
        .enumerate()
        .map(|(n, c)| (n * INSERT_ROWS, c))
    {
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| user_row(*id, &format!("bench{}", chunk_start + k), created_at));
        users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let links = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| spotify_link_row(app, *id, chunk_start + k, now));
        spotify_links::Entity::insert_many(links)
            .exec_without_returning(&txn)
            .await?;
    }
    let track_count = 1000.min(recipients * per_recipient).max(1);
    for chunk in (0..track_count).collect::<Vec<_>>().chunks(INSERT_ROWS) {
        let rows = chunk.iter().map(|n| track_row(*n, created_at));
        tracks::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;

    let share_rows: Vec<(usize, usize)> = (0..recipients)
        .flat_map(|r| (0..per_recipient).map(move |k| (r, k)))
        .collect();
    for batch in share_rows.chunks(INSERT_ROWS * 10) {
        let txn = app.db.begin().await?;
        for chunk in batch.chunks(INSERT_ROWS) {
            let rows = chunk.iter().map(|&(r, k)| shares::ActiveModel {
                id: Set(Uuid::now_v7()),
                sender_id: Set(user_ids[(r + k + 1) % recipients]),
                recipient_id: Set(user_ids[r]),
                track_id: Set(track_id((r * per_recipient + k) % track_count)),
                note: Set(None),
                status: Set(shares::Status::Pending),
                created_at: Set(created_at),
                played_at: Set(None),
                opened_at: Set(None),
                listening_at: Set(None),
                expires_at: Set(created_at + TimeDelta::days(7)),
                next_check_at: Set(Some(due_at)),
                updated_at: Set(created_at),
            });
            shares::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
    }
    for chunk in user_ids.chunks(INSERT_ROWS * 5) {
        let txn = app.db.begin().await?;
        for id in chunk {
            CheckRecipient { recipient_id: *id }
                .enqueue_at(&txn, due_at, now)
                .await?;
        }
        txn.commit().await?;
    }
    Ok(Seeded {
        recipients,
        shares: share_rows.len(),
        due_at,
    })
}

/// Makes every share and job due again, as they were after seeding.
async fn make_due_again(app: &App, seeded: &Seeded) -> anyhow::Result<()> {
    shares::Entity::update_many()
        .col_expr(shares::Column::NextCheckAt, Expr::value(seeded.due_at))
        .exec(&app.db)
        .await?;
    jobs::Entity::update_many()
        .col_expr(jobs::Column::RunAt, Expr::value(seeded.due_at))
        .filter(jobs::Column::Kind.eq(CHECK))
        .exec(&app.db)
        .await?;
    Ok(())
}

struct RunResult {
    checks: usize,
    elapsed: Duration,
    calls: u64,
    token_calls: u64,
    statements: u64,
    /// This process (the app and the fake Spotify), in clock ticks.
    process_cpu: u64,
    /// PostgreSQL's processes, in clock ticks (0 on SQLite).
    database_cpu: u64,
    /// The whole machine: share of all cores busy during the run.
    machine_busy: f64,
}

/// Starts `workers` of the app's own workers (`app::spawn_workers`,
/// as `run_until_stopped` does) on a fresh app over the seeded database, and
/// waits until every check job has run and been put back for later. The
/// app's clock moves with real time meanwhile: the Spotify budget refills
/// with time (at least 1 ms per call), so a clock standing still would hold
/// calls back after its burst.
async fn drain(database_url: &str, fake_url: &str, clock: Arc<ManualClock>, fake: &Fake, workers: usize) -> RunResult {
    let ticking = tokio::spawn({
        let clock = clock.clone();
        async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let now = Instant::now();
                clock.advance(now - last);
                last = now;
            }
        }
    });
    let result = drain_ticking(database_url, fake_url, clock, fake, workers).await;
    ticking.abort();
    result
}

async fn drain_ticking(
    database_url: &str,
    fake_url: &str,
    clock: Arc<ManualClock>,
    fake: &Fake,
    workers: usize,
) -> RunResult {
    let app = build_app(database_url, fake_url, clock).await;
    let calls_before = fake.counts.recently_played.load(Ordering::Relaxed);
    let tokens_before = fake.counts.tokens.load(Ordering::Relaxed);
    let statements_before = app::statements_run(&app);
    let cpu_before = own_cpu_ticks();
    let postgres = app::is_postgres(&app.db);
    let database_cpu_before = if postgres { postgres_cpu_ticks() } else { 0 };
    let (busy_before, total_before) = machine_cpu_ticks();
    let started = Instant::now();
    let handles = app::spawn_workers(&app, workers);
    let expected = app_recipients(&app).await;
    // Until the fake has seen a call per recipient, watch its counter (free);
    // then the database, until no check job is due or running.
    let calls = || fake.counts.recently_played.load(Ordering::Relaxed) - calls_before;
    wait_for(calls, expected, started, DRAIN_TIMEOUT).await;
    let now = app.clock.now();
    loop {
        let busy = jobs::Entity::find()
            .filter(jobs::Column::Kind.eq(CHECK))
            .filter(
                Condition::any()
                    .add(jobs::Column::Status.eq(jobs::Status::Running))
                    .add(jobs::Column::RunAt.lte(now)),
            )
            .count(&app.db)
            .await
            .unwrap_or(u64::MAX);
        if busy == 0 || started.elapsed() > DRAIN_TIMEOUT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let (busy_after, total_after) = machine_cpu_ticks();
    let result = RunResult {
        checks: expected as usize,
        elapsed,
        process_cpu: own_cpu_ticks() - cpu_before,
        database_cpu: if postgres {
            postgres_cpu_ticks().saturating_sub(database_cpu_before)
        } else {
            0
        },
        machine_busy: (busy_after - busy_before) as f64 / (total_after - total_before).max(1) as f64,
        calls: fake.counts.recently_played.load(Ordering::Relaxed) - calls_before,
        token_calls: fake.counts.tokens.load(Ordering::Relaxed) - tokens_before,
        // The few polling counts above are included (one per 2 ms at the end).
        statements: app::statements_run(&app) - statements_before,
    };
    app::stop(app, handles).await;
    result
}

/// Check jobs in the queue: one per recipient.
async fn app_recipients(app: &App) -> u64 {
    jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(CHECK))
        .count(&app.db)
        .await
        .expect("count check jobs")
}

/// Every job rescheduled to a later time without error; every share moved
/// on to its next check. Answers problems found.
async fn verify(app: &App, seeded: &Seeded) -> anyhow::Result<Vec<String>> {
    let now = app.clock.now();
    let mut problems = Vec::new();
    let later_jobs = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(CHECK))
        .filter(jobs::Column::Status.eq(jobs::Status::Queued))
        .filter(jobs::Column::RunAt.gt(now))
        .filter(jobs::Column::LastError.is_null())
        .count(&app.db)
        .await?;
    if later_jobs != seeded.recipients as u64 {
        let failed = jobs::Entity::find()
            .filter(jobs::Column::LastError.is_not_null())
            .one(&app.db)
            .await?;
        problems.push(format!(
            "{later_jobs} of {} jobs rescheduled cleanly (an error: {:?})",
            seeded.recipients,
            failed.and_then(|j| j.last_error)
        ));
    }
    let moved_on = shares::Entity::find()
        .filter(shares::Column::Status.eq(shares::Status::Pending))
        .filter(shares::Column::NextCheckAt.gt(now))
        .count(&app.db)
        .await?;
    if moved_on != seeded.shares as u64 {
        problems.push(format!("{moved_on} of {} shares moved to a later check", seeded.shares));
    }
    Ok(problems)
}

/// The fake's bare rate: `concurrency` callers, each calling in a loop.
async fn baseline(fake_url: &str, concurrency: usize, total: usize) -> f64 {
    let client = common::fake::client();
    let url = format!("{fake_url}/api/v1/me/player/recently-played?limit=50");
    let elapsed = closed_loop(concurrency, total, move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client
                .get(&url)
                .bearer_auth("bench")
                .send()
                .await
                .expect("fake answers");
            let _: Value = response.json().await.expect("fake JSON");
        }
    })
    .await;
    total as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let recipients: usize = env_or("RECIPIENTS", 20_000);
    let per_recipient: usize = env_or("SHARES_PER_RECIPIENT", 5);
    let delay = Duration::from_millis(env_or("SPOTIFY_DELAY_MS", 20));
    let loops = env_counts("WORKERS", "1,4,8,16");
    anyhow::ensure!(!loops.is_empty(), "WORKERS names no worker count");

    let (fake_url, fake) = start_fake_spotify(delay);
    let mut databases = Vec::new();
    if sqlite_wanted() {
        databases.push(fresh_sqlite("scheduler"));
    }
    if let Some(server) = postgres_server() {
        databases.push(fresh_postgres(&server, "scheduler", "PostgreSQL", &[]).await);
    }

    println!(
        "scheduler: {recipients} recipients x {per_recipient} pending shares, all due; fake Spotify adds {} ms per call",
        delay.as_millis()
    );
    let mut rows = Vec::new();
    for database in databases {
        let clock = ManualClock::new();
        let app = build_app(&database.url, &fake_url, clock.clone()).await;
        let seeding = Instant::now();
        let seeded = seed(&app, recipients, per_recipient).await?;
        vacuum(&app.db, TABLES).await;
        println!(
            "{}: seeded {} shares and {} jobs in {:.1} s",
            database.label,
            seeded.shares,
            seeded.recipients,
            seeding.elapsed().as_secs_f64()
        );
        for (n, &loop_count) in loops.iter().enumerate() {
            if n > 0 {
                make_due_again(&app, &seeded).await?;
                vacuum(&app.db, TABLES).await;
            }
            let load_before = load_average();
            let result = drain(&database.url, &fake_url, clock.clone(), &fake, loop_count).await;
            let load_after = load_average();
            let problems = verify(&app, &seeded).await?;
            let concurrency = loop_count * CLAIM_BATCH;
            let bare = baseline(&fake_url, concurrency, (concurrency * 25).max(2000)).await;
            let rate = result.checks as f64 / result.elapsed.as_secs_f64();
            let row = format!(
                "| {} | {} | {} | {} | {:.1} s | **{:.0}** | {} / {} ({:.2} per check) | {} | {:.1} | {:.0} | {:.2} | {:.2} ms | {:.0}% | {} → {} |",
                database.label,
                loop_count,
                concurrency,
                result.checks,
                result.elapsed.as_secs_f64(),
                rate,
                result.calls,
                seeded.recipients,
                result.calls as f64 / result.checks.max(1) as f64,
                result.token_calls,
                result.statements as f64 / result.checks.max(1) as f64,
                bare,
                rate / bare,
                result.process_cpu as f64 * 10.0 / result.checks.max(1) as f64,
                result.machine_busy * 100.0,
                load_before,
                load_after,
            );
            println!("{row}");
            if !problems.is_empty() || result.calls != seeded.recipients as u64 || result.token_calls != 0 {
                println!(
                    "  PROBLEM: {problems:?}; calls {} for {} recipients, token calls {}",
                    result.calls, seeded.recipients, result.token_calls
                );
            }
            println!(
                "  ({} statements; CPU per check: this process {:.2} ms, PostgreSQL {:.2} ms; all cores {:.0}% busy)",
                result.statements,
                result.process_cpu as f64 * 10.0 / result.checks.max(1) as f64,
                result.database_cpu as f64 * 10.0 / result.checks.max(1) as f64,
                result.machine_busy * 100.0
            );
            rows.push(row);
        }
        drop(app);
        drop_database(database).await;
    }
    println!();
    println!(
        "| database | workers | checks in flight (max) | recipient checks | elapsed | checks/s | recently-played calls / due recipients | token calls | DB statements per check | bare fake calls/s, same concurrency | ratio | CPU per check (this process) | all cores busy | load average (1 min) before → after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
