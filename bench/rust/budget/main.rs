//! Budget benchmark: the Spotify calls one app makes stay inside its
//! budgets, and what receipts still achieve within them.
//!
//! (a) a week of a group of five friends ([`week`]) with the default
//!     budgets (`SPOTIFY_DAILY_BUDGET=1000`, `SPOTIFY_WINDOW_BUDGET=60`):
//!     calls per day and in any rolling 24 hours and 30 seconds, the
//!     receipts' latency (30-second mark → recorded), and how the public
//!     page polled every 10 s was answered (fresh, stale from the cache,
//!     refused);
//! (b) 20,000 recipients with pending shares, 2,000 watched live, all due
//!     at once ([`burst`]): the most calls in any rolling 30 seconds
//!     against `SPOTIFY_WINDOW_BUDGET` (the daily budget lifted), what got
//!     checked, and that no share was lost.
//!
//!     cargo bench --bench budget
//!     BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:55432/postgres cargo bench --bench budget
//!
//! Settings (environment):
//!   DAYS            (a) simulated days                                  (default 7)
//!   SHARES_PER_DAY  (a) shares each friend makes a day                  (default 2)
//!   POLL_S          (a) the public page asks every this many seconds    (default 10)
//!   STEP_S          (a) the clock's step                                (default 5)
//!   LAG_S           (a) recently-played lists a play this long late     (default 180)
//!   SEED            (a) of the random moments                           (default 1)
//!   RECIPIENTS      (b) recipients with a pending share                 (default 20000)
//!   LIVE            (b) of them watched live                            (default 2000)
//!   MINUTES         (b) simulated minutes, a second a step              (default 10)
//!   DAILY_BUDGET / WINDOW_BUDGET   the budgets of (a), and WINDOW_BUDGET of (b) (defaults 1000 / 60)
//!   PART=a|b        run one part only
//!   BENCH_DATABASE_URL  postgres://… server: also run on PostgreSQL; SQLITE=0 skips SQLite
mod burst;
#[path = "../common/mod.rs"]
mod common;
mod fake;
mod week;

use common::{
    cpu::load_average,
    db::{BenchDatabase, drop_database, fresh_postgres, fresh_sqlite, postgres_server, sqlite_wanted},
    env_or,
    stats::percentile,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let part = std::env::var("PART").unwrap_or_default();
    let daily: u32 = env_or("DAILY_BUDGET", 1000);
    let window: u32 = env_or("WINDOW_BUDGET", 60);
    let (daily_text, window_text) = (daily.to_string(), window.to_string());
    println!(
        "budget: SPOTIFY_DAILY_BUDGET={daily} SPOTIFY_WINDOW_BUDGET={window}; load average {}",
        load_average()
    );
    let mut problems = Vec::new();
    if part != "b" {
        let week = week::Week::from_env();
        println!(
            "\n(a) {} days of 5 friends, {} shares each a day, the public page polled every {} s, recently-played {} s late, step {} s",
            week.days,
            week.shares_per_day,
            week.poll.num_seconds(),
            week.lag.num_seconds(),
            week.step.num_seconds()
        );
        println!(
            "\n| database | calls per day | most in 24 h | most in 30 s | currently-playing / recently-played | \
             receipts / plays / shares | p50 s | p90 s | max s | page polls: fresh / stale / refused | real time |"
        );
        println!("|---|---|---:|---:|---|---|---:|---:|---:|---|---:|");
        for kind in databases() {
            let database = fresh(kind, "budget_week").await;
            let o = week
                .run(
                    &database,
                    &[
                        ("SPOTIFY_DAILY_BUDGET", daily_text.as_str()),
                        ("SPOTIFY_WINDOW_BUDGET", window_text.as_str()),
                    ],
                )
                .await?;
            let per_day: Vec<String> = o.calls_per_day.iter().map(usize::to_string).collect();
            println!(
                "| {} | {} | **{}** | {} | {} / {} | {} / {} / {} | **{:.1}** | {:.1} | {:.1} | {} / {} / {} | {:.0} s |",
                database.label,
                per_day.join(", "),
                o.most_in_24h,
                o.most_in_30s,
                o.by_endpoint.0,
                o.by_endpoint.1,
                o.latencies.len(),
                o.plays,
                o.shares,
                quantile(&o.latencies, 0.5),
                quantile(&o.latencies, 0.9),
                quantile(&o.latencies, 1.0),
                o.polls.0,
                o.polls.1,
                o.polls.2,
                o.real.as_secs_f64()
            );
            if o.most_in_24h > daily as usize {
                problems.push(format!("{}: {} calls in 24 h", database.label, o.most_in_24h));
            }
            if o.most_in_30s > window as usize {
                problems.push(format!("{}: (a) {} calls in 30 s", database.label, o.most_in_30s));
            }
            if o.latencies.len() < o.plays {
                problems.push(format!(
                    "{}: {} of {} plays got a receipt",
                    database.label,
                    o.latencies.len(),
                    o.plays
                ));
            }
            drop_database(database).await;
        }
    }
    if part != "a" {
        let burst = burst::Burst::from_env();
        println!(
            "\n(b) {} recipients with a pending share, {} watched live, all due at once; {} simulated minutes, a second a step; \
             SPOTIFY_WINDOW_BUDGET={window}, the daily budget lifted",
            burst.recipients, burst.live, burst.minutes
        );
        println!(
            "\n| database | most in 30 s | currently-playing / recently-played | recipients checked | jobs run | \
             first step (real) | the rest (real) | shares pending / made |"
        );
        println!("|---|---:|---|---:|---:|---:|---:|---|");
        for kind in databases() {
            let database = fresh(kind, "budget_burst").await;
            let o = burst
                .run(
                    &database,
                    &[
                        ("SPOTIFY_DAILY_BUDGET", "100000000"),
                        ("SPOTIFY_WINDOW_BUDGET", window_text.as_str()),
                    ],
                )
                .await?;
            println!(
                "| {} | **{}** | {} / {} | {} | {} | {:.1} s | {:.1} s | {} / {} |",
                database.label,
                o.most_in_30s,
                o.by_endpoint.0,
                o.by_endpoint.1,
                o.checked,
                o.jobs,
                o.first_step.as_secs_f64(),
                o.rest.as_secs_f64(),
                o.pending,
                burst.recipients
            );
            if o.most_in_30s > window as usize {
                problems.push(format!("{}: (b) {} calls in 30 s", database.label, o.most_in_30s));
            }
            if o.pending != burst.recipients {
                problems.push(format!(
                    "{}: {} shares of {} still pending",
                    database.label, o.pending, burst.recipients
                ));
            }
            drop_database(database).await;
        }
    }
    println!();
    for problem in &problems {
        println!("PROBLEM: {problem}");
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

async fn fresh(kind: Kind, name: &str) -> BenchDatabase {
    match (kind, postgres_server()) {
        (Kind::Postgres, Some(server)) => fresh_postgres(&server, name, "PostgreSQL", &[]).await,
        _ => fresh_sqlite(name),
    }
}

/// The nearest-rank quantile of `values` (seconds); 0 when empty.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, q)
}
