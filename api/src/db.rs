//! Connecting to the database and migrating it.
//!
//! SQLite is the zero-set-up default: WAL (readers never wait for the writer),
//! foreign keys on, and a busy timeout so concurrent writers queue instead of
//! failing. PostgreSQL is used as is.
use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // A ping before every checkout costs a round trip per statement;
        // broken connections surface as errors and are replaced anyway.
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    if url.starts_with("sqlite") {
        options.max_connections(8).min_connections(1);
    } else {
        options.max_connections(20).min_connections(1);
    }
    Database::connect(options)
        .await
        .with_context(|| format!("cannot open the database at {}", redact_url(url)))
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("migrating the database")
}

/// Ready means: the database answers and no migration is pending.
pub async fn ready(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared("SELECT 1")
        .await
        .context("database unreachable")?;
    let pending = Migrator::get_pending_migrations(db)
        .await
        .context("reading migrations")?;
    anyhow::ensure!(pending.is_empty(), "{} migrations pending", pending.len());
    Ok(())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(super::redact_url("sqlite://a.db?mode=rwc"), "sqlite://a.db?mode=rwc");
    }
}
