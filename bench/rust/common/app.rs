//! The app under test. Every item the benchmarks take from the `api` crate is
//! named in the `pub use` below and nowhere else, so that when a module moves
//! in `api` this file is the one to follow it. Then the settings every
//! benchmark starts from, and building, running and stopping an app.
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, DbErr};
use tokio::task::JoinHandle;

// Each benchmark uses some of these.
#[allow(unused_imports)]
pub use api::{
    App, Application, Settings,
    accounts::{tokens::TokenSubject, users::new_user},
    clock::{Clock, ManualClock, SystemClock},
    config::LogFormat,
    db::is_postgres,
    detection::{check::CheckRecipient, live},
    devices::MAX_PER_USER as MAX_DEVICES,
    events::{Event, EventBus, Topic},
    http::with_small_buffers,
    jobs::{Job, worker::SLOTS},
    notify::{Notice, send::SendDelivery},
    receipts::record_play,
    sandbox::{
        providers::ProviderSandbox,
        spotify::{SpotifySandbox, router as spotify_router},
    },
    sharing::{HOURLY_LIMIT as SHARES_PER_HOUR, NewShare, create as share_song},
    startup::runner,
    telemetry::init_tracing,
    webhook::{BODY_LIMIT as WEBHOOK_BODY_LIMIT, MAX_EVENT_BYTES},
};

/// Settings for an app on `database_url`: sandbox off, fixed bench secrets,
/// no background workers, Spotify budgets that never bind, then `extra` on top (later entries win).
pub fn settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let base = [
        ("DATABASE_URL", database_url),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("SANDBOX", "off"),
        ("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123"),
        ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("SPOTIFY_CLIENT_ID", "bench-client"),
        ("SPOTIFY_CLIENT_SECRET", "bench-client-secret"),
        ("JOB_WORKERS", "0"),
        // Budgets that never bind (an app in extended quota mode): the
        // budget benchmark sets its own.
        ("SPOTIFY_DAILY_BUDGET", "100000000"),
        ("SPOTIFY_WINDOW_BUDGET", "10000000"),
    ];
    let vars: HashMap<String, String> = base
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_vars(vars).expect("bench settings are valid")
}

/// The state of an app built (migrated, listening, not serving) with
/// `settings` and `clock`: workers are driven directly, no server is needed.
pub async fn state(settings: Settings, clock: Arc<dyn Clock>) -> Arc<App> {
    Application::build_with_clock(settings, clock)
        .await
        .expect("the app builds")
        .state()
}

/// An app built with `settings` and `clock`, serving HTTP on a loopback
/// port: its base URL, its state, and what stops it (its task ends then).
pub async fn serve(
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> (String, Arc<App>, tokio::sync::oneshot::Sender<()>, JoinHandle<()>) {
    let application = Application::build_with_clock(settings, clock)
        .await
        .expect("the app builds");
    let base = format!("http://127.0.0.1:{}", application.port());
    let state = application.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = application
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (base, state, stop, server)
}

/// Starts `count` of the app's own workers (every kind of job) with its
/// poll interval, as `run_until_stopped` does.
pub fn spawn_workers(app: &Arc<App>, count: usize) -> Vec<JoinHandle<()>> {
    runner(app).start(count, app.settings.job_poll_interval)
}

/// Statements this app has run on its pool so far.
pub fn statements_run(app: &App) -> u64 {
    app.telemetry.statements_run()
}

/// The process-wide metrics, in Prometheus's text format.
pub fn metrics_text(app: &App) -> String {
    app.telemetry.metrics.render()
}

/// An access token for `subject`, as a log-in would issue it.
pub fn access_token(app: &App, subject: TokenSubject) -> anyhow::Result<String> {
    Ok(app.accounts.tokens().issue(subject, app.clock.now())?.0)
}

/// Whether push and Messenger are both set up on this app.
pub fn both_channels(app: &App) -> bool {
    app.notify.channels() == (true, true)
}

/// `plaintext` sealed as the app stores Spotify tokens, bound to `context`.
pub fn seal(app: &App, plaintext: &str, context: &str) -> String {
    app.spotify.sealer().seal(plaintext, context)
}

/// Writes the deliveries (and their jobs) for `notice` inside `txn`, as
/// recording an event does; answers how many were new.
pub async fn fan_out(app: &App, txn: &DatabaseTransaction, notice: Notice, now: DateTime<Utc>) -> Result<usize, DbErr> {
    app.notify.fan_out(txn, notice, now).await
}

/// Stops the workers (they finish what they hold) and closes the pool.
pub async fn stop(app: Arc<App>, workers: Vec<JoinHandle<()>>) {
    app.shutdown.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    app.db.clone().close().await.ok();
}
