//! Connecting to the database, migrating it, and starting transactions.
//!
//! SQLite is the zero-set-up default: WAL (readers never wait for the writer),
//! foreign keys on, and a busy handler so concurrent writers queue instead of
//! failing. PostgreSQL is used as is.
//!
//! Every transaction starts through [`begin`]: on SQLite it takes the write
//! lock at once (`BEGIN IMMEDIATE`). A transaction that starts as a reader
//! and writes later cannot wait for the lock: if another connection
//! committed since it read, SQLite answers `SQLITE_BUSY` ("database is
//! locked") at once, without calling the busy handler, because its reads
//! are stale. Started as a writer, it waits in the busy handler instead.
//! [`serialize_on`] makes transactions about the same thing take turns on
//! PostgreSQL too (a check then a write, such as a limit).
use std::{
    collections::HashMap,
    hash::Hash,
    str::FromStr as _,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::{
    ColumnTrait as _, ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter as _, RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::{
        self, Connection as _,
        postgres::{PgConnectOptions, PgConnection},
        sqlite::SqliteConnectOptions,
    },
};

/// How every SQLite connection is set up, the pool's and any opened beside
/// it (the webhook's writer thread).
pub(crate) const SQLITE_PRAGMAS: [(&str, &str); 5] = [
    // Readers never wait for the writer.
    ("journal_mode", "WAL"),
    // A commit does not sync; checkpoints do.
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
    // Checkpoints run in the background (`checkpoint_regularly`), not
    // inside whichever commit crosses 1,000 WAL pages.
    ("wal_autocheckpoint", "0"),
    // Once started over, the log keeps at most 64 MiB on disk.
    ("journal_size_limit", "67108864"),
];

/// How long the first connection to PostgreSQL may take: a server that is
/// down is reported at once, not after the pool's retries.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `url` names a database this server can open; the reason when
/// not, without quoting the URL (it may hold a password).
pub fn check_url(url: &str) -> Result<(), String> {
    if is_postgres_url(url) {
        PgConnectOptions::from_str(url)
            .map(drop)
            .map_err(|err| format!("not a PostgreSQL URL ({})", driver_message(&err)))
    } else if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)
            .map(drop)
            .map_err(|err| format!("not an SQLite URL ({})", driver_message(&err)))
    } else {
        Err("not a database URL (it starts with neither sqlite: nor postgres://)".to_owned())
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How long a statement waits for a connection of the pool before it
/// fails (`INTERNAL`). A burst larger than the pool waits its turn: on
/// PostgreSQL each connection the pool opens for it costs a SCRAM
/// handshake (thousands of HMAC rounds on each side), and under a loaded
/// CPU a burst of 20 (`logIn`s counted on one throttle row, sign-up
/// callbacks) took longer than 10 s to be served its connections, so
/// 10 s answered errors where waiting succeeds.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the pool. Errors are one line naming `DATABASE_URL` (password
/// hidden), the server and what went wrong: "connection refused at
/// host:port", a login PostgreSQL refused, an SQLite file that cannot be
/// opened.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    if is_postgres_url(url) {
        reach_postgres(url).await?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        // A ping before every checkout costs a round trip per statement;
        // broken connections surface as errors and are replaced anyway.
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|opts| {
            SQLITE_PRAGMAS
                .iter()
                .fold(opts, |opts, &(key, value)| opts.pragma(key, value))
                .busy_timeout(Duration::from_secs(10))
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    sqlite_busy::install(handle.as_raw_handle());
                    Ok(())
                })
            })
        });
    if url.starts_with("sqlite") {
        options.max_connections(8).min_connections(1);
    } else {
        options.max_connections(20).min_connections(1);
    }
    let db = Database::connect(options).await.map_err(|err| {
        let cause = match &err {
            DbErr::Conn(RuntimeErr::SqlxError(cause)) => driver_message(cause),
            other => other.to_string(),
        };
        let hint = if url.starts_with("sqlite:") {
            " (its folder must exist and be writable; ?mode=rwc creates the file)"
        } else {
            ""
        };
        anyhow::anyhow!(
            "DATABASE_URL={}: cannot open the database: {cause}{hint}",
            redact_url(url)
        )
    })?;
    if db.get_database_backend() == DbBackend::Sqlite {
        tokio::spawn(checkpoint_regularly(db.clone()));
    }
    Ok(db)
}

/// One connection to PostgreSQL, within [`FIRST_CONNECT_TIMEOUT`], to say
/// exactly why the server cannot be used. The pool would retry a refused
/// connection until its own timeout and then say only "pool timed out".
async fn reach_postgres(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| anyhow::anyhow!("setting DATABASE_URL: not a PostgreSQL URL ({})", driver_message(&err)))?;
    let server = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let failed = |problem: String| anyhow::anyhow!("DATABASE_URL={}: {problem}", redact_url(url));
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Err(_) => Err(failed(format!(
            "no answer from {server} within {}s; is PostgreSQL running there, and reachable?",
            FIRST_CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Err(sqlx::Error::Io(err))) if err.kind() == std::io::ErrorKind::ConnectionRefused => Err(failed(format!(
            "connection refused at {server}; is PostgreSQL running and listening there?"
        ))),
        Ok(Err(sqlx::Error::Io(err))) => Err(failed(format!("cannot reach {server}: {err}"))),
        Ok(Err(sqlx::Error::Database(err))) => Err(failed(format!("PostgreSQL at {server} says: {}", err.message()))),
        Ok(Err(sqlx::Error::Tls(err))) => Err(failed(format!("TLS with {server} failed: {err}"))),
        Ok(Err(err)) => Err(failed(format!("cannot connect to {server}: {}", driver_message(&err)))),
    }
}

/// The driver's own words, without its "error returned from database"
/// and similar prefixes.
fn driver_message(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Configuration(cause) => cause.to_string(),
        sqlx::Error::Database(cause) => cause.message().to_owned(),
        other => other.to_string(),
    }
}

/// SQLite: copies the write-ahead log back into the database every second,
/// without waiting for readers or writers (`PASSIVE`), until the pool is
/// closed. Left to SQLite, the commit that crosses 1,000 WAL pages does it,
/// and the request that made that commit waits for the copy and its fsync.
///
/// SQLite starts the log over only when a write finds it wholly copied;
/// under a steady stream of commits a passive checkpoint never catches up
/// (new frames arrive while it copies) and the log grows without end
/// (hundreds of MB in a minute of webhook load). So once it holds more than
/// [`RESTART_AFTER_FRAMES`], the passive copy is followed by a `RESTART`
/// checkpoint: it holds writers back only while it copies the frames added
/// since, then the next commit writes the log from its start again.
async fn checkpoint_regularly(db: DatabaseConnection) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match checkpoint(&db).await {
            Ok(()) => {}
            Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)) => return,
            Err(err) => tracing::warn!(error = %err, "checkpointing the SQLite log failed; trying again"),
        }
    }
}

/// Frames (pages) in the log above which it is started over: 16 MiB.
const RESTART_AFTER_FRAMES: i64 = 4096;

async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    let started = Instant::now();
    let passive = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    metrics::histogram!("sqlite_checkpoint_seconds", "mode" => "passive").record(started.elapsed().as_secs_f64());
    // (busy, frames in the log, frames copied)
    let frames: i64 = match passive {
        Some(row) => row.try_get_by_index(1)?,
        None => return Ok(()),
    };
    metrics::gauge!("sqlite_wal_frames").set(frames as f64);
    if frames > RESTART_AFTER_FRAMES {
        let started = Instant::now();
        db.execute_unprepared("PRAGMA wal_checkpoint(RESTART)").await?;
        metrics::histogram!("sqlite_checkpoint_seconds", "mode" => "restart").record(started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Waiting for SQLite's write lock.
///
/// SQLite allows one writer at a time; a connection that finds the lock
/// taken calls its busy handler and tries again. The built-in one sleeps 1,
/// 2, 5, 10, … up to 100 ms between tries, so a writer often sleeps long
/// after the lock was freed, and under many concurrent writers (job
/// workers, webhook posts) short waits turn into queues of seconds (see
/// docs/BENCHMARKS.md). This handler tries again every 100 µs for the first
/// 50 ms, then every millisecond, and gives up (`SQLITE_BUSY`) after about
/// ten seconds, like the timeout it replaces.
pub(crate) mod sqlite_busy {
    use std::{
        ffi::{c_int, c_void},
        ptr::NonNull,
        time::Duration,
    };

    use libsqlite3_sys::{sqlite3, sqlite3_busy_handler};

    const QUICK_TRIES: c_int = 500;
    const SLOW_TRIES: c_int = 10_000;

    /// The policy: waits before try number `tries` and answers true, or
    /// answers false (give up) once the time is spent. Also the handler of
    /// connections opened outside the pool (`rusqlite`).
    pub fn wait(tries: c_int) -> bool {
        let wait = match tries {
            t if t < QUICK_TRIES => Duration::from_micros(100),
            t if t < QUICK_TRIES + SLOW_TRIES => Duration::from_millis(1),
            _ => return false,
        };
        std::thread::sleep(wait);
        true
    }

    extern "C" fn busy(_: *mut c_void, tries: c_int) -> c_int {
        c_int::from(wait(tries))
    }

    pub fn install(handle: NonNull<sqlite3>) {
        // SAFETY: `handle` is an open connection locked for our exclusive use
        // (`lock_handle`), and `busy` neither unwinds nor touches SQLite.
        unsafe {
            sqlite3_busy_handler(handle.as_ptr(), Some(busy), std::ptr::null_mut());
        }
    }
}

/// Starts a transaction that may write: on SQLite `BEGIN IMMEDIATE`, which
/// waits (in the busy handler) for the write lock before anything is read,
/// so the transaction can never be refused halfway for stale reads; on
/// PostgreSQL a plain `BEGIN`. Inside a transaction, a savepoint.
///
/// The one way this crate starts a transaction (`tests/tidy.rs` checks).
pub async fn begin<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Makes the transactions that call this with the same `key` take turns
/// until each ends: a check followed by a write (a limit, "answer the
/// existing one instead of a duplicate") then holds across processes.
/// PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of
/// `key`. SQLite: nothing to do, a transaction from [`begin`] already holds
/// the database's only write lock.
///
/// # Errors
/// The database's, on PostgreSQL.
pub async fn serialize_on(txn: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [lock_key(key).into()],
    ))
    .await?;
    Ok(())
}

/// A stable 64-bit key for an advisory lock: the first 8 bytes of SHA-256.
fn lock_key(key: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
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

/// Rows of one table by a key column, many at once (`WHERE key IN (…)`),
/// by key: what data loaders ask for.
pub async fn by_keys<E, K>(
    db: &impl ConnectionTrait,
    column: E::Column,
    keys: &[K],
    key_of: fn(&E::Model) -> K,
) -> Result<HashMap<K, E::Model>, DbErr>
where
    E: EntityTrait,
    K: Into<sea_orm::Value> + Clone + Eq + Hash,
{
    let found = E::find().filter(column.is_in(keys.iter().cloned())).all(db).await?;
    Ok(found.into_iter().map(|row| (key_of(&row), row)).collect())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Whether the database refused a statement for the values it carries (a
/// value the column cannot hold, a broken constraint) rather than failing
/// to run it (connection lost, pool exhausted, a lock): the same statement
/// would be refused again, so trying it later is pointless. PostgreSQL:
/// SQLSTATE classes 22 (data exception: a NUL in text, a string too long
/// for its `varchar`) and 23 (integrity constraint violation). SQLite: see
/// [`sqlite_refuses_the_data`].
pub fn refuses_the_data(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err))) = err else {
        return false;
    };
    match err.as_ref() {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(err) => {
            let Some(code) = err.code() else { return false };
            if err.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                code.starts_with("22") || code.starts_with("23")
            } else {
                code.parse().is_ok_and(sqlite_refuses_the_data)
            }
        }
        _ => false,
    }
}

/// Whether an SQLite (extended) result code says the values were refused:
/// `SQLITE_TOOBIG` (18), `SQLITE_CONSTRAINT` (19) and `SQLITE_MISMATCH`
/// (20), whose extended codes keep the primary one in the low byte.
pub fn sqlite_refuses_the_data(extended_code: i32) -> bool {
    matches!(extended_code & 0xff, 18..=20)
}

/// The URL with any password replaced, for messages and logs: the one in
/// `user:password@` and a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait as _, Database};

    #[tokio::test]
    async fn values_the_database_refuses_are_told_from_other_failures() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO t VALUES (1, 'a')").await.unwrap();
        let duplicate = db
            .execute_unprepared("INSERT INTO t VALUES (1, 'b')")
            .await
            .unwrap_err();
        assert!(super::refuses_the_data(&duplicate), "{duplicate}");
        let missing = db
            .execute_unprepared("INSERT INTO t VALUES (2, NULL)")
            .await
            .unwrap_err();
        assert!(super::refuses_the_data(&missing), "{missing}");
        let broken = db
            .execute_unprepared("INSERT INTO nowhere VALUES (1)")
            .await
            .unwrap_err();
        assert!(!super::refuses_the_data(&broken), "{broken}");
        assert!(super::sqlite_refuses_the_data(1555), "SQLITE_CONSTRAINT_PRIMARYKEY");
        assert!(super::sqlite_refuses_the_data(18), "SQLITE_TOOBIG");
        assert!(!super::sqlite_refuses_the_data(5), "SQLITE_BUSY");
        assert!(!super::sqlite_refuses_the_data(517), "SQLITE_BUSY_SNAPSHOT");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(super::redact_url("sqlite://a.db?mode=rwc"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            super::redact_url("postgres://app@db/x?sslmode=require&password=hunter2"),
            "postgres://app@db/x?sslmode=require&password=***"
        );
        assert_eq!(
            super::redact_url("postgres://app:p%40ss@db/x"),
            "postgres://app:***@db/x"
        );
    }

    #[test]
    fn malformed_urls_are_refused_without_being_quoted() {
        for url in [
            "nonsense",
            "mysql://app:hunter2@db/x",
            "postgres://app:hunter2@db:port/x",
        ] {
            let why = super::check_url(url).unwrap_err();
            assert!(!why.contains("hunter2") && !why.contains("nonsense"), "{why}");
        }
        assert!(super::check_url("sqlite://sendsongs.db?mode=rwc").is_ok());
        assert!(super::check_url("sqlite::memory:").is_ok());
        assert!(super::check_url("postgres://app:hunter2@db:5432/x").is_ok());
    }
}
