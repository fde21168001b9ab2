//! What the Rust benchmarks share: settings from the environment, a fresh
//! database per run (an SQLite file, or a database created on a PostgreSQL
//! server), the machine's load, and seed rows.
//!
//! Each benchmark includes it with `#[path = "common.rs"] mod common;`; not
//! every benchmark uses every item.
#![allow(dead_code)]

use std::{collections::HashMap, path::PathBuf};

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{ConnectionTrait as _, Database, Set};
use uuid::Uuid;

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Settings for an app on `database_url`: sandbox off, fixed bench secrets,
/// no background workers, then `extra` on top (later entries win).
pub fn settings(database_url: &str, extra: &[(&str, &str)]) -> api::Settings {
    let base = [
        ("DATABASE_URL", database_url),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("SANDBOX", "off"),
        ("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123"),
        ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("SPOTIFY_CLIENT_ID", "bench-client"),
        ("SPOTIFY_CLIENT_SECRET", "bench-client-secret"),
        ("JOB_WORKERS", "0"),
    ];
    let vars: HashMap<String, String> = base
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    api::Settings::from_vars(vars).expect("bench settings are valid")
}

pub struct BenchDatabase {
    pub label: &'static str,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { server: String, name: String },
}

/// A new SQLite file in a temporary directory of its own.
pub fn fresh_sqlite(bench: &str) -> BenchDatabase {
    let dir = std::env::temp_dir().join(format!("sendsongs-{bench}-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    BenchDatabase {
        label: "SQLite",
        url: format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
        cleanup: Cleanup::Dir(dir),
    }
}

/// A new database on the PostgreSQL server at `server`; `setup` runs
/// against the server right after it is created (as `{name}`).
pub async fn fresh_postgres(server: &str, bench: &str, label: &'static str, setup: &[String]) -> BenchDatabase {
    let name = format!("sendsongs_{bench}_bench_{}", Uuid::new_v4().simple());
    let admin = Database::connect(server).await.expect("BENCH_DATABASE_URL reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the bench database");
    for statement in setup {
        admin
            .execute_unprepared(&statement.replace("{name}", &name))
            .await
            .expect("set up the bench database");
    }
    admin.close().await.ok();
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    BenchDatabase {
        label,
        url: format!("{base}/{name}"),
        cleanup: Cleanup::Postgres {
            server: server.to_owned(),
            name,
        },
    }
}

/// Removes the database, unless `KEEP_DB=1` (then prints where it is).
pub async fn drop_database(database: BenchDatabase) {
    if std::env::var("KEEP_DB").ok().as_deref() == Some("1") {
        eprintln!("kept {}: {}", database.label, database.url);
        return;
    }
    match database.cleanup {
        Cleanup::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::Postgres { server, name } => {
            if let Ok(admin) = Database::connect(&server).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await.ok();
            }
        }
    }
}

/// CPU time (user + system, all threads) in clock ticks (1/100 s), from a
/// `/proc/<pid>/stat` line; 0 if it cannot be read.
pub fn stat_cpu_ticks(stat: &str) -> u64 {
    // The command name (field 2) may hold spaces: count from its `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// This process's CPU time so far, in clock ticks (1/100 s).
pub fn own_cpu_ticks() -> u64 {
    stat_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
}

/// The load averages over 1, 5 and 15 minutes.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A user without email or password (as a Messenger-only account is),
/// with the given id.
pub fn user_row(id: Uuid, handle: &str, at: DateTime<Utc>) -> users::ActiveModel {
    let mut row = api::accounts::users::new_user(handle.to_owned(), handle.to_owned(), at);
    row.id = Set(id);
    row
}

/// Serves `router` on a loopback port from a thread and single-threaded
/// runtime of its own, as a service elsewhere would run; answers its URL.
pub fn serve_on_own_thread(router: axum::Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let address = listener.local_addr().expect("a bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            axum::serve(listener, router).await.expect("serving");
        });
    });
    format!("http://{address}")
}
