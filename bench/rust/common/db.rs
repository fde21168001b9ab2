//! A fresh database per run: an SQLite file in a temporary directory, or a
//! database created on the PostgreSQL server `BENCH_DATABASE_URL` names;
//! dropped at the end unless `KEEP_DB=1`.
use std::path::PathBuf;

use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use uuid::Uuid;

use super::app::is_postgres;

pub struct BenchDatabase {
    /// "SQLite", "PostgreSQL" or a longer label, for the report.
    pub label: &'static str,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { server: String, name: String },
}

/// Whether the run includes SQLite: unless `SQLITE=0`.
pub fn sqlite_wanted() -> bool {
    std::env::var("SQLITE").ok().as_deref() != Some("0")
}

/// The PostgreSQL server to also run on: `BENCH_DATABASE_URL`, when it is a
/// `postgres…` URL.
pub fn postgres_server() -> Option<String> {
    std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
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

/// PostgreSQL: `VACUUM ANALYZE` of `tables` (a comma list), for fresh
/// statistics and no dead rows between runs, as autovacuum would leave a
/// steadily running table (a bench moves faster than its naptime). Nothing
/// on SQLite.
pub async fn vacuum(db: &DatabaseConnection, tables: &str) {
    if is_postgres(db) {
        db.execute_unprepared(&format!("VACUUM ANALYZE {tables}"))
            .await
            .expect("vacuum");
    }
}
