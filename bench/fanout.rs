//! Subscription fan-out benchmark: 10,000 WebSocket subscribers on one
//! server, each a different user, then one event published for every one
//! of them at once.
//!
//!     cargo bench --bench fanout
//!     FANOUT_TOPIC=played cargo bench --bench fanout
//!
//! This process is the server: the app built in-process on a fresh SQLite
//! file (or, with `BENCH_DATABASE_URL=postgres://…`, a fresh PostgreSQL
//! database, where events travel through NOTIFY), serving on a loopback port.
//! Users, sessions and the rows the events name (one accepted friendship per
//! pair of users; for `played` a share to each user and its play event) are
//! inserted directly, and access tokens minted with `app.tokens`.
//!
//! The subscribers live in a child process (this same executable, started
//! again with `FANOUT_CLIENT=1`), so the server's resident memory holds
//! server-side costs only, and each process needs one descriptor per
//! connection rather than two. Each client sends `connection_init` with its
//! bearer token over `graphql-transport-ws` and subscribes to
//! `friendshipChanged { status }` (or `sharePlayed { id playedAt share { status } }`).
//!
//! Memory: the server's VmRSS before any connection, after the first half
//! and after all of them (the second half gives the marginal cost, free of
//! start-up allocations being reused), and after delivery.
//!
//! Latency: a warm-up round (which also proves every subscription is
//! registered), then `ROUNDS` measured rounds. In each, the server publishes
//! one event per user at once (`app.events.publish`, all futures joined),
//! noting the wall-clock time of each publication; each client notes when
//! its `next` message arrives, before parsing it. Both processes read the
//! same system clock.
//!
//! Settings (environment):
//!   SUBSCRIBERS         connections, one user each       (default 10000)
//!   FANOUT_TOPIC        friendship | played              (default friendship)
//!   ROUNDS              measured rounds                  (default 3)
//!   CONNECT_PARALLEL    connections opened concurrently  (default 64)
//!   BENCH_DATABASE_URL  postgres://… server instead of SQLite
//!   PACE=n              publish n events, then wait 10 ms, and so on, instead of all
//!                       at once (tells memory kept per connection from a burst's peak)
//!   BASELINE=0          skip the transport floor
//!
//! Needs `ulimit -n` above SUBSCRIBERS + 512 (checked at start).
#[path = "common.rs"]
mod common;

use std::{
    collections::HashMap,
    io::{BufRead as _, Write as _},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use api::{
    App, Application,
    accounts::tokens::TokenSubject,
    clock::ManualClock,
    events::{Event, Topic},
};
use chrono::TimeDelta;
use entity::{friendships, play_events, sessions, shares, tracks, users};
use futures_util::{SinkExt as _, StreamExt as _, future::join_all, stream};
use sea_orm::{EntityTrait as _, Set, TransactionTrait as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message, client::IntoClientRequest as _, http::HeaderValue, protocol::WebSocketConfig,
};
use uuid::Uuid;

use common::{drop_database, env_or, fresh_postgres, fresh_sqlite, load_average, own_cpu_ticks, user_row};

const CHILD_ENV: &str = "FANOUT_CLIENT";
const INSERT_ROWS: usize = 1000;
/// How long a round may take before it is reported with what arrived.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if std::env::var_os(CHILD_ENV).is_some() {
        runtime.block_on(client::main())
    } else {
        runtime.block_on(server_main())
    }
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A line of /proc/self/status, in KiB (VmRSS, VmHWM, RssAnon, …).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Friendship,
    Played,
}

impl Kind {
    fn query(self) -> &'static str {
        match self {
            Kind::Friendship => "subscription { friendshipChanged { status } }",
            Kind::Played => "subscription { sharePlayed { id playedAt share { status } } }",
        }
    }

    fn topic(self) -> Topic {
        match self {
            Kind::Friendship => Topic::FriendshipChanged,
            Kind::Played => Topic::SharePlayed,
        }
    }

    fn field(self) -> &'static str {
        match self {
            Kind::Friendship => "friendshipChanged",
            Kind::Played => "sharePlayed",
        }
    }
}

/// Users with open sessions, and per user the id of the row its event names.
struct Seeded {
    users: Vec<Uuid>,
    sessions: Vec<Uuid>,
    subjects: Vec<Uuid>,
}

async fn seed(app: &App, count: usize, kind: Kind) -> anyhow::Result<Seeded> {
    let now = app.clock.now();
    let users: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    let sessions: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    let txn = app.db.begin().await?;
    for (n, chunk) in users.chunks(INSERT_ROWS).enumerate() {
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| user_row(*id, &format!("fan{}", n * INSERT_ROWS + k), now));
        users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    for pairs in users.iter().zip(&sessions).collect::<Vec<_>>().chunks(INSERT_ROWS) {
        let rows = pairs.iter().map(|(user, session)| sessions::ActiveModel {
            id: Set(**session),
            user_id: Set(**user),
            created_at: Set(now),
            last_used_at: Set(now),
            revoked_at: Set(None),
        });
        sessions::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    // Users 2k and 2k+1 are friends: one row serves both.
    let partner = |i: usize| if i.is_multiple_of(2) { (i + 1) % count } else { i - 1 };
    let mut friendship_of = vec![Uuid::nil(); count];
    let mut rows = Vec::new();
    for i in (0..count).step_by(2) {
        let j = partner(i);
        let id = Uuid::now_v7();
        friendship_of[i] = id;
        friendship_of[j] = id;
        let (low, high) = if users[i] < users[j] {
            (users[i], users[j])
        } else {
            (users[j], users[i])
        };
        rows.push(friendships::ActiveModel {
            id: Set(id),
            user_low: Set(low),
            user_high: Set(high),
            requester_id: Set(users[i]),
            accepted: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        });
    }
    for chunk in rows.chunks(INSERT_ROWS) {
        friendships::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let subjects = match kind {
        Kind::Friendship => friendship_of,
        Kind::Played => {
            tracks::Entity::insert(tracks::ActiveModel {
                id: Set("fanouttrack00000000000".into()),
                name: Set("Fan-out".into()),
                artists: Set(r#"["Bench Artist"]"#.into()),
                album: Set(None),
                duration_ms: Set(200_000),
                image_url: Set(None),
                fetched_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
            let share_ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
            let event_ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
            for chunk in (0..count).collect::<Vec<_>>().chunks(INSERT_ROWS) {
                let rows = chunk.iter().map(|&i| shares::ActiveModel {
                    id: Set(share_ids[i]),
                    sender_id: Set(users[partner(i)]),
                    recipient_id: Set(users[i]),
                    track_id: Set("fanouttrack00000000000".into()),
                    note: Set(None),
                    status: Set(shares::Status::Played),
                    created_at: Set(now - TimeDelta::minutes(10)),
                    played_at: Set(Some(now - TimeDelta::minutes(1))),
                    expires_at: Set(now + TimeDelta::days(7)),
                    next_check_at: Set(None),
                    updated_at: Set(now),
                });
                shares::Entity::insert_many(rows).exec_without_returning(&txn).await?;
                let events = chunk.iter().map(|&i| play_events::ActiveModel {
                    id: Set(event_ids[i]),
                    share_id: Set(share_ids[i]),
                    played_at: Set(now - TimeDelta::minutes(1)),
                    detected_at: Set(now),
                });
                play_events::Entity::insert_many(events)
                    .exec_without_returning(&txn)
                    .await?;
            }
            event_ids
        }
    };
    txn.commit().await?;
    Ok(Seeded {
        users,
        sessions,
        subjects,
    })
}

struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

/// In milliseconds.
fn percentiles(mut values_ns: Vec<u64>) -> Percentiles {
    values_ns.sort_unstable();
    let at = |q: f64| {
        let index = ((values_ns.len() as f64 * q).ceil() as usize).clamp(1, values_ns.len()) - 1;
        values_ns[index] as f64 / 1e6
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// The child's stdout, line by line, as a channel.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

async fn expect_line(lines: &mut mpsc::UnboundedReceiver<String>, prefix: &str, wait: Duration) -> Vec<String> {
    loop {
        let line = tokio::time::timeout(wait, lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no `{prefix}` from the clients within {wait:?}"))
            .unwrap_or_else(|| panic!("the client process ended before `{prefix}`"));
        let mut words = line.split_whitespace().map(str::to_owned);
        match words.next().as_deref() {
            Some(word) if word == prefix => return words.collect(),
            Some("fail") => panic!("client process: {line}"),
            _ => eprintln!("client: {line}"),
        }
    }
}

/// The server's side of the client process: its stdout as lines, its stdin.
struct Clients {
    child: std::process::Child,
    to_child: std::process::ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Clients {
    fn spawn(port: u16, tokens_file: &std::path::Path, kind: Kind) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(CHILD_ENV, "1")
            .env("FANOUT_PORT", port.to_string())
            .env("FANOUT_TOKENS", tokens_file)
            .env("FANOUT_QUERY", kind.query())
            .env("FANOUT_FIELD", kind.field())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let to_child = child.stdin.take().unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        Ok(Self { child, to_child, lines })
    }

    fn tell(&mut self, line: &str) {
        writeln!(self.to_child, "{line}").expect("the client process listens");
        self.to_child.flush().unwrap();
    }

    async fn expect(&mut self, prefix: &str, wait: Duration) -> Vec<String> {
        expect_line(&mut self.lines, prefix, wait).await
    }

    fn quit(mut self) {
        self.tell("quit");
        let _ = self.child.wait();
    }
}

/// Memory as the connections were opened.
struct Connected {
    half: usize,
    rss_half: u64,
    rss_full: u64,
    client_idle_kib: u64,
    client_full_kib: u64,
    seconds: f64,
}

/// Lets the client process open its connections, in two halves.
async fn connect_all(clients: &mut Clients) -> anyhow::Result<Connected> {
    let idle = clients.expect("started", Duration::from_secs(30)).await;
    let started = Instant::now();
    let half = clients.expect("half", Duration::from_secs(300)).await;
    let first_half = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_half = status_kib("VmRSS");
    clients.tell("go");
    let resumed = Instant::now();
    let ready = clients.expect("ready", Duration::from_secs(300)).await;
    let seconds = (first_half + resumed.elapsed()).as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Connected {
        half: half[0].parse()?,
        rss_half,
        rss_full: status_kib("VmRSS"),
        client_idle_kib: idle[0].parse()?,
        client_full_kib: ready[1].parse()?,
        seconds,
    })
}

/// One measured (or warm-up) round.
struct Round {
    delivered: usize,
    bad: usize,
    publishing_ms: f64,
    per_event: Percentiles,
    from_start: Percentiles,
    server_cpu_us: f64,
    client_cpu_us: f64,
    statements: f64,
    rss_after: u64,
}

/// Arms the clients for `round`, publishes with `publish` (which answers
/// each user's publication time) and collects the arrivals.
async fn round<F, Fut>(
    clients: &mut Clients,
    number: usize,
    count: usize,
    statements: impl Fn() -> u64,
    publish: F,
) -> anyhow::Result<Round>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<u64>>,
{
    clients.tell(&format!("round {number}"));
    clients.expect("armed", Duration::from_secs(30)).await;
    let (cpu_before, statements_before) = (own_cpu_ticks(), statements());
    let started = now_ns();
    let published = publish().await;
    let publishing_ms = (now_ns() - started) as f64 / 1e6;
    let done = clients.expect("done", ROUND_TIMEOUT + Duration::from_secs(30)).await;
    let (cpu_after, statements_after) = (own_cpu_ticks(), statements());
    let (delivered, bad, client_ticks): (usize, usize, u64) = (done[1].parse()?, done[2].parse()?, done[3].parse()?);
    let received: Vec<u64> = done[4..].iter().map(|v| v.parse().unwrap()).collect();
    let mut per_event = Vec::with_capacity(count);
    let mut from_start = Vec::with_capacity(count);
    for (i, at) in received.iter().enumerate() {
        if *at > 0 {
            per_event.push(at.saturating_sub(published[i]));
            from_start.push(at.saturating_sub(started));
        }
    }
    let delivered_f = delivered.max(1) as f64;
    Ok(Round {
        delivered,
        bad,
        publishing_ms,
        per_event: percentiles(per_event),
        from_start: percentiles(from_start),
        server_cpu_us: (cpu_after - cpu_before) as f64 * 10_000.0 / delivered_f,
        client_cpu_us: client_ticks as f64 * 10_000.0 / delivered_f,
        statements: (statements_after - statements_before) as f64 / delivered_f,
        rss_after: status_kib("VmRSS"),
    })
}

fn print_round(label: &str, number: usize, count: usize, r: &Round) {
    println!(
        "{label} round {number}{}: {}/{count} delivered ({} with errors); published in {:.1} ms; \
         publication->delivery p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms (from the first publication: {:.1} / {:.1} / {:.1}); \
         CPU per delivery: server {:.0} us, clients {:.0} us; {:.2} statements per delivery; server VmRSS {:.1} MiB",
        if number == 0 { " (warm-up)" } else { "" },
        r.delivered,
        r.bad,
        r.publishing_ms,
        r.per_event.p50,
        r.per_event.p99,
        r.per_event.max,
        r.from_start.p50,
        r.from_start.p99,
        r.from_start.max,
        r.server_cpu_us,
        r.client_cpu_us,
        r.statements,
        r.rss_after as f64 / 1024.0,
    );
}

/// One event per user, all at once (futures joined), or `pace` at a time
/// with 10 ms between; answers each user's publication time.
async fn publish_all(app: &App, seeded: &Seeded, kind: Kind, pace: usize) -> Vec<u64> {
    let event = |n: usize| Event {
        user_id: seeded.users[n],
        topic: kind.topic(),
        subject_id: seeded.subjects[n],
    };
    if pace == 0 {
        return join_all((0..seeded.users.len()).map(|n| async move {
            let at = now_ns();
            app.events.publish(event(n)).await;
            at
        }))
        .await;
    }
    let mut published = Vec::with_capacity(seeded.users.len());
    for n in 0..seeded.users.len() {
        if n > 0 && n % pace == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        published.push(now_ns());
        app.events.publish(event(n)).await;
    }
    published
}

async fn server_main() -> anyhow::Result<()> {
    let count: usize = env_or("SUBSCRIBERS", 10_000);
    let rounds: usize = env_or("ROUNDS", 3);
    let kind = match std::env::var("FANOUT_TOPIC").as_deref() {
        Ok("played") => Kind::Played,
        _ => Kind::Friendship,
    };
    let needed = count as u64 + 512;
    match open_files_limit() {
        Some(limit) if limit >= needed => {}
        other => anyhow::bail!(
            "open files limit is {other:?}, {needed} needed: raise it first (`ulimit -n {}`)",
            needed.next_power_of_two()
        ),
    }

    let database = match std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        Some(server) => fresh_postgres(&server, "fanout", "PostgreSQL", &[]).await,
        None => fresh_sqlite("fanout"),
    };
    let clock = ManualClock::new();
    let settings = common::settings(&database.url, &[]);
    let application = Application::build_with_clock(settings, clock.clone()).await?;
    let port = application.port();
    let app = application.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let seeding = Instant::now();
    let seeded = seed(&app, count, kind).await?;
    let tokens_file = std::env::temp_dir().join(format!("sendsongs-fanout-{}.tokens", Uuid::new_v4().simple()));
    let mut tokens = Vec::with_capacity(count);
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tokens_file)?);
        for (user_id, session_id) in seeded.users.iter().zip(&seeded.sessions) {
            let subject = TokenSubject {
                user_id: *user_id,
                session_id: *session_id,
            };
            let (token, _) = app.accounts.tokens().issue(subject, app.clock.now())?;
            writeln!(file, "{token}")?;
            tokens.push(token);
        }
    }
    println!(
        "fanout: {count} subscribers to {} on {}; seeded in {:.1} s; load average {}",
        kind.field(),
        database.label,
        seeding.elapsed().as_secs_f64(),
        load_average(),
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = status_kib("VmRSS");
    let mut clients = Clients::spawn(port, &tokens_file, kind)?;
    let connected = connect_all(&mut clients).await?;

    let pace: usize = env_or("PACE", 0);
    let mut measured = Vec::new();
    for number in 0..=rounds {
        let result = round(
            &mut clients,
            number,
            count,
            || app.telemetry.statements_run(),
            || publish_all(&app, &seeded, kind, pace),
        )
        .await?;
        print_round("app", number, count, &result);
        if number > 0 {
            measured.push((number, result));
        }
    }
    clients.quit();
    let load_after_app = load_average();

    // Transport floor: the same clients against a bare WebSocket server that
    // acknowledges, accepts the subscription and, for each event from an
    // `EventBus` of its own, sends a fixed `next` message: no GraphQL
    // execution, no reload from the database, no session check.
    let mut floor = Vec::new();
    if std::env::var("BASELINE").as_deref() != Ok("0") {
        let bus = Arc::new(api::events::EventBus::default());
        let bare_port = bare::serve(bus.clone(), &tokens, &seeded.users, kind).await?;
        let mut clients = Clients::spawn(bare_port, &tokens_file, kind)?;
        connect_all(&mut clients).await?;
        for number in 0..=rounds {
            let bus = bus.clone();
            let users = &seeded.users;
            let subjects = &seeded.subjects;
            let result = round(
                &mut clients,
                number,
                count,
                || 0,
                || async move {
                    join_all(users.iter().zip(subjects).map(|(user_id, subject_id)| {
                        let bus = bus.clone();
                        async move {
                            let at = now_ns();
                            bus.publish(Event {
                                user_id: *user_id,
                                topic: kind.topic(),
                                subject_id: *subject_id,
                            })
                            .await;
                            at
                        }
                    }))
                    .await
                },
            )
            .await?;
            print_round("floor", number, count, &result);
            if number > 0 {
                floor.push((number, result));
            }
        }
        clients.quit();
    }
    let _ = std::fs::remove_file(&tokens_file);

    let kib = |from: u64, to: u64, n: usize| to.saturating_sub(from) as f64 / n as f64;
    println!();
    println!(
        "connected {count} in {:.1} s; load average {} after the app rounds, {} at the end",
        connected.seconds,
        load_after_app,
        load_average()
    );
    println!();
    println!("| server VmRSS | MiB | KiB per connection |");
    println!("|---|---:|---:|");
    println!("| before connections | {:.1} | |", rss_before as f64 / 1024.0);
    println!(
        "| after {} connections | {:.1} | {:.1} |",
        connected.half,
        connected.rss_half as f64 / 1024.0,
        kib(rss_before, connected.rss_half, connected.half)
    );
    println!(
        "| after {count} connections | {:.1} | {:.1} (second half alone: {:.1}) |",
        connected.rss_full as f64 / 1024.0,
        kib(rss_before, connected.rss_full, count),
        kib(connected.rss_half, connected.rss_full, count - connected.half)
    );
    for (number, r) in &measured {
        println!(
            "| after measured round {number} | {:.1} | {:.1} |",
            r.rss_after as f64 / 1024.0,
            kib(rss_before, r.rss_after, count)
        );
    }
    println!(
        "| client process, for comparison | {:.1} | {:.1} |",
        connected.client_full_kib as f64 / 1024.0,
        kib(connected.client_idle_kib, connected.client_full_kib, count)
    );
    println!();
    println!(
        "| server | round | delivered | published in | p50 | p99 | last | from first publication p50 / p99 / last | server CPU per delivery | client CPU per delivery | statements per delivery |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
    for (label, rows) in [("app", &measured), ("bare WebSocket + EventBus", &floor)] {
        for (number, r) in rows.iter() {
            println!(
                "| {label} | {number} | {}/{count}{} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} / {:.1} / {:.1} ms | {:.0} µs | {:.0} µs | {:.2} |",
                r.delivered,
                if r.bad > 0 {
                    format!(" ({} errors)", r.bad)
                } else {
                    String::new()
                },
                r.publishing_ms,
                r.per_event.p50,
                r.per_event.p99,
                r.per_event.max,
                r.from_start.p50,
                r.from_start.p99,
                r.from_start.max,
                r.server_cpu_us,
                r.client_cpu_us,
                r.statements,
            );
        }
    }

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    drop(app);
    drop_database(database).await;
    Ok(())
}

/// The transport floor's server.
mod bare {
    use axum::{
        Router,
        extract::{
            State, WebSocketUpgrade,
            ws::{Message as WsMessage, WebSocket},
        },
        response::Response,
        routing::get,
    };

    use super::*;

    struct Bare {
        bus: Arc<api::events::EventBus>,
        user_by_token: HashMap<String, Uuid>,
        topic: Topic,
        frame: String,
    }

    /// Serves on a loopback port; answers the port.
    pub async fn serve(
        bus: Arc<api::events::EventBus>,
        tokens: &[String],
        users: &[Uuid],
        kind: Kind,
    ) -> anyhow::Result<u16> {
        let data = match kind {
            Kind::Friendship => json!({ "friendshipChanged": { "status": "FRIEND" } }),
            Kind::Played => json!({ "sharePlayed": {
                "id": Uuid::nil(), "playedAt": "2026-11-23T00:00:00Z", "share": { "status": "PLAYED" } } }),
        };
        let state = Arc::new(Bare {
            bus,
            user_by_token: tokens.iter().cloned().zip(users.iter().copied()).collect(),
            topic: kind.topic(),
            frame: json!({ "id": "1", "type": "next", "payload": { "data": data } }).to_string(),
        });
        let router = Router::new().route("/graphql", get(upgrade)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(port)
    }

    async fn upgrade(State(state): State<Arc<Bare>>, upgrade: WebSocketUpgrade) -> Response {
        // The app's buffer sizes.
        api::http::with_small_buffers(upgrade)
            .protocols(["graphql-transport-ws"])
            .on_upgrade(move |socket| connection(socket, state))
    }

    async fn next_text(socket: &mut WebSocket) -> Option<Value> {
        loop {
            match socket.recv().await? {
                Ok(WsMessage::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn connection(mut socket: WebSocket, state: Arc<Bare>) {
        let Some(init) = next_text(&mut socket).await else {
            return;
        };
        let token = init["payload"]["authorization"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("Bearer ");
        let Some(user_id) = state.user_by_token.get(token).copied() else {
            return;
        };
        let ack = json!({ "type": "connection_ack" }).to_string();
        if socket.send(WsMessage::Text(ack.into())).await.is_err() {
            return;
        }
        let Some(_subscribe) = next_text(&mut socket).await else {
            return;
        };
        let mut events = Box::pin(state.bus.subscribe(user_id, state.topic));
        loop {
            tokio::select! {
                event = events.next() => {
                    if event.is_none() {
                        return;
                    }
                    if socket.send(WsMessage::Text(state.frame.clone().into())).await.is_err() {
                        return;
                    }
                }
                message = socket.recv() => match message {
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// The subscribers' process.
mod client {
    use super::*;

    /// What a connection reports: its index, when a message arrived, and
    /// whether it carried the expected data.
    type Arrival = (usize, u64, bool);

    pub async fn main() -> anyhow::Result<()> {
        let port: u16 = std::env::var("FANOUT_PORT")?.parse()?;
        let query = std::env::var("FANOUT_QUERY")?;
        let field = std::env::var("FANOUT_FIELD")?;
        let tokens: Vec<String> = std::fs::read_to_string(std::env::var("FANOUT_TOKENS")?)?
            .lines()
            .map(str::to_owned)
            .collect();
        let count = tokens.len();
        let mut commands = lines_of(std::io::stdin());
        let say = |line: String| {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").unwrap();
            out.flush().unwrap();
        };
        say(format!("started {}", status_kib("VmRSS")));

        let (arrivals, mut arrived) = mpsc::unbounded_channel::<Arrival>();
        let parallel: usize = env_or("CONNECT_PARALLEL", 64);
        let half = count / 2;
        let tokens = Arc::new(tokens);
        for (range, last) in [(0..half, false), (half..count, true)] {
            let results: Vec<anyhow::Result<()>> = stream::iter(range)
                .map(|index| {
                    let (tokens, query, field, arrivals) =
                        (tokens.clone(), query.clone(), field.clone(), arrivals.clone());
                    async move { open(port, index, &tokens[index], &query, field, arrivals).await }
                })
                .buffer_unordered(parallel)
                .collect()
                .await;
            if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
                say(format!("fail {err:#}"));
                anyhow::bail!("a connection failed");
            }
            if last {
                say(format!("ready {count} {}", status_kib("VmRSS")));
            } else {
                say(format!("half {half} {}", status_kib("VmRSS")));
                while commands.recv().await.as_deref() != Some("go") {}
            }
        }

        // One round at a time: a message belongs to the round armed when it arrives.
        loop {
            let Some(command) = commands.recv().await else {
                return Ok(());
            };
            let mut words = command.split_whitespace();
            match (words.next(), words.next()) {
                (Some("round"), Some(round)) => {
                    let mut received = vec![0u64; count];
                    let (mut got, mut bad) = (0, 0);
                    let cpu_before = own_cpu_ticks();
                    say(format!("armed {round}"));
                    let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
                    while got < count {
                        match tokio::time::timeout_at(deadline, arrived.recv()).await {
                            Ok(Some((index, at, ok))) => {
                                if received[index] == 0 {
                                    received[index] = at;
                                    got += 1;
                                }
                                if !ok {
                                    bad += 1;
                                }
                            }
                            _ => break,
                        }
                    }
                    let mut line = format!("done {round} {got} {bad} {}", own_cpu_ticks() - cpu_before);
                    for at in received {
                        line.push(' ');
                        line.push_str(&at.to_string());
                    }
                    say(line);
                }
                (Some("quit"), _) => std::process::exit(0),
                _ => {}
            }
        }
    }

    /// Connects, signs in, subscribes, and hands every `next` to `arrivals`.
    async fn open(
        port: u16,
        index: usize,
        token: &str,
        query: &str,
        field: String,
        arrivals: mpsc::UnboundedSender<Arrival>,
    ) -> anyhow::Result<()> {
        let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        // Small buffers, as the server uses: the client side is not what is measured.
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(64 * 1024);
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
                    .to_string(),
            ))
            .await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    match value["type"].as_str() {
                        Some("connection_ack") => break,
                        Some("connection_error") => anyhow::bail!("connection_error: {}", value["payload"]),
                        _ => {}
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => anyhow::bail!("closed at connection_init: {frame:?}"),
                Ok(Some(Ok(_))) => {}
                Ok(other) => anyhow::bail!("connection_init: {other:?}"),
                Err(_) => anyhow::bail!("no connection_ack within 30 s"),
            }
        }
        socket
            .send(Message::text(
                json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string(),
            ))
            .await?;
        tokio::spawn(async move {
            while let Some(message) = socket.next().await {
                let at = now_ns();
                match message {
                    Ok(Message::Text(text)) => {
                        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        match value["type"].as_str() {
                            Some("next") => {
                                let ok = value["payload"]["errors"].is_null()
                                    && value["payload"]["data"][field.as_str()].is_object();
                                let _ = arrivals.send((index, at, ok));
                            }
                            Some("error") | Some("complete") => {
                                eprintln!("subscriber {index}: {text}");
                                let _ = arrivals.send((index, at, false));
                            }
                            _ => {}
                        }
                    }
                    Ok(Message::Close(frame)) => {
                        eprintln!("subscriber {index}: closed {frame:?}");
                        break;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        eprintln!("subscriber {index}: {err}");
                        break;
                    }
                }
            }
        });
        Ok(())
    }
}
