//! Latency: how soon a detected play reaches FCM and the Send API, round by
//! round, with idle workers waiting.
use std::{
    path::Path as FsPath,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use entity::{deliveries, devices, jobs, messenger_links, shares, tracks, users};
use sea_orm::{
    ColumnTrait as _, Database, DatabaseConnection, EntityTrait as _, IntoActiveModel as _, PaginatorTrait as _,
    QueryFilter as _,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    build_app,
    common::{
        app::{self, Job as _, SendDelivery, record_play},
        cpu::load_average,
        db::BenchDatabase,
        rows::{track_id, track_row, user_row},
        stats::percentile,
    },
    device_row,
    fakes::Fakes,
    link_row, ms,
};

/// The latency rounds' track, apart from the backlog's.
const LATENCY_TRACK: usize = 1_000_000;

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

pub struct LatencyResult {
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

pub async fn latency(
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
    let handles = app::spawn_workers(&app, app.settings.job_workers);
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
            opened_at: None,
            listening_at: None,
            expires_at: now + TimeDelta::days(7),
            next_check_at: Some(now + TimeDelta::minutes(5)),
            updated_at: now - TimeDelta::minutes(5),
        };
        shares::Entity::insert(share.clone().into_active_model())
            .exec_without_returning(&app.db)
            .await?;
        while arrivals.try_recv().is_ok() {}

        let statements_before = app::statements_run(&app);
        let started = Instant::now();
        record_play(&app, &share, now - TimeDelta::minutes(1), app.clock.now()).await?;
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
                .filter(deliveries::Column::Status.eq(deliveries::Status::Sent))
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
        let statements = app::statements_run(&app) - statements_before;
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
    app::stop(app, handles).await;
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

pub fn print_latency(label: &str, r: &LatencyResult, workers: usize) {
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
