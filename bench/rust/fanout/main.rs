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
//! inserted directly, and access tokens minted with `app::access_token`.
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
//!
//! Here: the server's side and the run; `seed.rs` the rows; `rounds.rs`
//! driving the subscribers' process and the report; `subscribers.rs` that
//! process; `bare.rs` the transport floor's server.
#[path = "../common/mod.rs"]
mod common;

mod bare;
mod rounds;
mod seed;
mod subscribers;

use std::{
    io::{BufRead as _, Write as _},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::future::join_all;
use tokio::sync::mpsc;
use uuid::Uuid;

use common::{
    app::{self, App, Application, Event, EventBus, SystemClock, TokenSubject, Topic},
    cpu::load_average,
    db::{drop_database, fresh_postgres, fresh_sqlite, postgres_server},
    env_or,
};
use rounds::{Clients, connect_all, print_round, print_summary, round};
use seed::{Seeded, seed};

/// Set in the environment of the subscribers' process.
const CHILD_ENV: &str = "FANOUT_CLIENT";
/// How long a round may take before it is reported with what arrived.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if std::env::var_os(CHILD_ENV).is_some() {
        runtime.block_on(subscribers::main())
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

/// A stream (the child's stdout, or stdin in the child), line by line, as a
/// channel.
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

    let database = match postgres_server() {
        Some(server) => fresh_postgres(&server, "fanout", "PostgreSQL", &[]).await,
        None => fresh_sqlite("fanout"),
    };
    // The wall clock, as in production: each socket awaits its access
    // token's expiry on the app's clock, and a test clock's sleeps share
    // one lock.
    let settings = app::settings(&database.url, &[]);
    let application = Application::build_with_clock(settings, Arc::new(SystemClock)).await?;
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
            let token = app::access_token(&app, subject)?;
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
            || app::statements_run(&app),
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

    // Transport floor: the same clients against a bare WebSocket server
    // (bare.rs).
    let mut floor = Vec::new();
    if std::env::var("BASELINE").as_deref() != Ok("0") {
        let bus = Arc::new(EventBus::default());
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

    print_summary(count, rss_before, &connected, &load_after_app, &measured, &floor);

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    drop(app);
    drop_database(database).await;
    Ok(())
}
