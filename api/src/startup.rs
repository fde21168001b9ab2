//! Start-up: the one place that wires everything. [`Application::build`]
//! connects and migrates the database, binds the listener, makes the
//! providers' clients (or their sandbox stand-ins), builds [`App`] and the
//! edges' own state, and the job [`registry`];
//! [`run_until_stopped`](Application::run_until_stopped) serves until told
//! to stop.
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::{Accounts, tokens::AccessTokens},
    app::{App, AppState},
    bot::{self, inbox::HandleInbox},
    cache::Caches,
    clock::{Clock, SystemClock},
    config::Settings,
    crypto::{Sealer, Signer},
    db,
    detection::{check::CheckRecipient, sweep::SweepShares},
    events::{self, EventBus},
    friends::Friends,
    graphql, http,
    jobs::{Job as _, Jobs, Registry, worker::Runner},
    messenger::{inbox::Inbox, send_api::SendApi},
    notify::{
        Notifier,
        fcm::{FcmClient, ServiceAccount},
        prune::PruneDevices,
        replies::SendBotReply,
        send::SendDelivery,
    },
    persisted_queries::PersistedQueries,
    sandbox::{
        Sandboxes,
        providers::{PAGE_TOKEN, ProviderSandbox},
        spotify::SpotifySandbox,
    },
    shares::tracked::TrackedLinks,
    spotify::{
        self, Spotify, SpotifyClient,
        budget::{Bucket, Budgets},
        expiry::WarnConsentExpiry,
        links::LinkResolver,
        now_playing,
        pause::Pauses,
    },
    telemetry::Telemetry,
    webhook::Webhook,
};

/// In sandbox mode, unless set: the app secret that signs webhook events
/// (`POST /sandbox/messenger/send` signs with it) and the handshake token.
pub const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";
pub const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

/// Every kind of job this server runs: the one list.
pub fn registry() -> Registry<App> {
    Registry::default()
        .register::<CheckRecipient>()
        .register::<SweepShares>()
        .register::<SendDelivery>()
        .register::<HandleInbox>()
        .register::<SendBotReply>()
        .register::<WarnConsentExpiry>()
        .register::<PruneDevices>()
}

/// Runs `state`'s jobs, every kind of [`registry`]; its workers stop when
/// the app shuts down.
pub fn runner(state: &AppState) -> Arc<Runner<App>> {
    Arc::new(Runner::new(
        state.db.clone(),
        state.clock.clone(),
        state.clone(),
        registry(),
        state.jobs.clone(),
        state.shutdown.clone(),
    ))
}

/// A built server: listening, migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The workers' runner, with every kind of job.
    runner: Arc<Runner<App>>,
    /// The webhook's secrets and writer.
    webhook: Arc<Webhook>,
    /// The stand-ins, in sandbox mode.
    sandboxes: Option<Sandboxes>,
    /// PostgreSQL only: the connection that receives events from every replica.
    event_listener: Option<sea_orm::sqlx::postgres::PgListener>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with a given clock; tests pass one they can move forward.
    pub async fn build_with_clock(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let (db, statements) = database(&settings).await?;
        // Sandbox mode: the secrets it made up become the ones kept in the
        // database, so what it stored opens after a restart.
        let spotify_key = if settings.sandbox {
            Some(crate::sandbox::secrets::keep(&db, &mut settings, clock.now()).await?)
        } else {
            None
        };
        // The hourly safety net for shares (one for all replicas).
        let now = clock.now();
        SweepShares::default()
            .enqueue_at(&db, now + crate::detection::sweep::EVERY, now)
            .await?;
        // Housekeeping: Spotify consents that run out soon, stale push tokens.
        WarnConsentExpiry::default()
            .enqueue_at(&db, now + spotify::expiry::EVERY, now)
            .await?;
        PruneDevices::default()
            .enqueue_at(&db, now + crate::notify::prune::EVERY, now)
            .await?;
        let listener = http::bind(settings.listen_addr).await?;
        // Server-to-server calls to our own stand-ins go to the bound port.
        let own = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let public_url = settings.public_url.clone().unwrap_or_else(|| own.clone());
        let providers = match spotify_key {
            Some(key) => Providers::sandboxed(&own, &public_url, &clock, &db, &settings, &key)?,
            None => Providers::configured(&settings, &clock, &db)?,
        };
        let webhook_secrets = WebhookSecrets::of(&settings);
        let (state, sandboxes) = assemble(settings, clock, db, statements, public_url, providers);
        if let Some(sandboxes) = &sandboxes {
            sandboxes.spotify.serve(state.spotify.clone());
        }
        let webhook = webhook(&state, webhook_secrets);
        let event_listener = listen_for_events(&state).await?;
        Ok(Self {
            listener,
            runner: runner(&state),
            state,
            webhook,
            sandboxes,
            event_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Runs this app's jobs (tests run them inline, benchmarks start
    /// workers of their own).
    pub fn runner(&self) -> Arc<Runner<App>> {
        self.runner.clone()
    }

    /// Serves until `shutdown` completes, then stops taking requests, ends
    /// WebSocket connections and lets requests in flight finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state;
        let schema = graphql::build_schema(state.clone());
        let router = http::router(state.clone(), schema, self.webhook, self.sandboxes);
        tracing::info!(address = %self.listener.local_addr()?, "listening");
        let stopping = state.shutdown.clone();
        if let Some(listener) = self.event_listener {
            tokio::spawn(events::listen(
                listener,
                state.settings.database_url.clone(),
                state.events.clone(),
                state.shutdown.clone(),
            ));
        }
        let workers = self
            .runner
            .start(state.settings.job_workers, state.settings.job_poll_interval);
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stopping.cancel();
        })
        .await
        .context("serving HTTP")?;
        http::websockets_closed(&state).await;
        // Workers stop claiming at once and finish what they hold.
        for worker in workers {
            let _ = worker.await;
        }
        state.db.clone().close().await.ok();
        Ok(())
    }
}

/// The webhook's state: its secrets, and the inbox it stores events in,
/// which queues the bot's job for each sender.
fn webhook(state: &AppState, secrets: WebhookSecrets) -> Arc<Webhook> {
    let inbox = Inbox::new(
        state.db.clone(),
        state.clock.clone(),
        state.jobs.clone(),
        state.telemetry.db_statements.clone(),
        state.settings.database_url.clone(),
        bot::inbox::queue_senders,
    );
    Arc::new(Webhook::new(
        state.clock.clone(),
        secrets.app_secret,
        secrets.verify_token,
        inbox,
    ))
}

/// On PostgreSQL events travel through `LISTEN`/`NOTIFY`: listen before
/// serving, so no event published after start-up is missed.
async fn listen_for_events(state: &AppState) -> anyhow::Result<Option<sea_orm::sqlx::postgres::PgListener>> {
    if !db::is_postgres(&state.db) {
        return Ok(None);
    }
    let listener = events::connect_listener(&state.settings.database_url)
        .await
        .context("listening for events on PostgreSQL")?;
    Ok(Some(listener))
}

/// Connects (counting every statement), and migrates.
async fn database(settings: &Settings) -> anyhow::Result<(DatabaseConnection, Arc<AtomicU64>)> {
    let mut db = db::connect(&settings.database_url).await?;
    let statements = Arc::new(AtomicU64::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    db::migrate(&db).await?;
    Ok((db, statements))
}

/// Every Spotify app's call budgets (`SPOTIFY_DAILY_BUDGET`,
/// `SPOTIFY_WINDOW_BUDGET`), shared with the replicas on PostgreSQL.
fn budgets(settings: &Settings, clock: &Arc<dyn Clock>, db: &DatabaseConnection) -> Budgets {
    Budgets::new(
        Bucket::daily(settings.spotify.daily_budget),
        Bucket::window(settings.spotify.window_budget),
        clock.clone(),
        db,
    )
}

/// The outside services' clients: real, or pointed at the stand-ins.
struct Providers {
    spotify: SpotifyClient,
    /// Where browsers are sent to authorize (`…/authorize`).
    authorize_base: String,
    fcm: Option<FcmClient>,
    messenger: Option<SendApi>,
    sandboxes: Option<Sandboxes>,
}

impl Providers {
    /// Sandbox mode: every provider is a stand-in served by this server.
    fn sandboxed(
        own: &str,
        public_url: &str,
        clock: &Arc<dyn Clock>,
        db: &DatabaseConnection,
        settings: &Settings,
        spotify_key: &[u8; 32],
    ) -> anyhow::Result<Self> {
        tracing::warn!(
            "sandbox mode: Spotify, the Send API, Google and FCM are served by stand-ins under /sandbox; \
             JWT_SECRET and ENCRYPTION_KEY, when not set, are made once and kept in the database"
        );
        let client_id = "sendsongs-sandbox".to_owned();
        let spotify = SpotifyClient::new(
            format!("{own}/sandbox/spotify/accounts"),
            format!("{own}/sandbox/spotify/api"),
            client_id.clone(),
            Some(SecretString::from("sandbox-secret")),
            Pauses::new(client_id, clock.clone(), settings.spotify.max_pause, db),
            budgets(settings, clock, db),
        );
        let providers = ProviderSandbox::new(clock.clone());
        let account = ServiceAccount::parse(&providers.service_account_json(&format!("{own}/sandbox/google/token")))?;
        Ok(Self {
            spotify,
            authorize_base: format!("{public_url}/sandbox/spotify/accounts"),
            fcm: Some(FcmClient::new(format!("{own}/sandbox/fcm"), account)?),
            messenger: Some(SendApi::new(
                format!("{own}/sandbox/graph"),
                SecretString::from(PAGE_TOKEN),
            )),
            sandboxes: Some(Sandboxes {
                spotify: SpotifySandbox::with_key(clock.clone(), spotify_key),
                providers,
            }),
        })
    }

    /// The providers the settings name; push and Messenger only when set up.
    fn configured(settings: &Settings, clock: &Arc<dyn Clock>, db: &DatabaseConnection) -> anyhow::Result<Self> {
        let client_id = settings.spotify.client_id.clone().unwrap_or_default();
        let spotify = SpotifyClient::new(
            settings.spotify.accounts_url.clone(),
            settings.spotify.api_url.clone(),
            client_id.clone(),
            settings.spotify.client_secret.clone(),
            Pauses::new(client_id, clock.clone(), settings.spotify.max_pause, db),
            budgets(settings, clock, db),
        );
        let fcm = match &settings.fcm.credentials {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .with_context(|| format!("setting FCM_CREDENTIALS: cannot read {}", path.display()))?;
                let account = ServiceAccount::parse(&json)
                    .with_context(|| format!("setting FCM_CREDENTIALS: {}", path.display()))?;
                Some(FcmClient::new(settings.fcm.api_url.clone(), account)?)
            }
            None => None,
        };
        let messenger = settings
            .messenger
            .page_token
            .clone()
            .map(|token| SendApi::new(settings.messenger.graph_url.clone(), token));
        Ok(Self {
            spotify,
            authorize_base: settings.spotify.accounts_url.clone(),
            fcm,
            messenger,
            sandboxes: None,
        })
    }
}

/// The webhook's secrets; in sandbox mode, known ones unless set.
struct WebhookSecrets {
    app_secret: Option<SecretString>,
    verify_token: Option<SecretString>,
}

impl WebhookSecrets {
    fn of(settings: &Settings) -> Self {
        let sandbox = |value: &str| settings.sandbox.then(|| SecretString::from(value));
        Self {
            app_secret: settings
                .messenger
                .app_secret
                .clone()
                .or_else(|| sandbox(SANDBOX_APP_SECRET)),
            verify_token: settings
                .messenger
                .verify_token
                .clone()
                .or_else(|| sandbox(SANDBOX_VERIFY_TOKEN)),
        }
    }
}

/// The app's state: the ground, then the services, each given what it uses.
fn assemble(
    settings: Settings,
    clock: Arc<dyn Clock>,
    db: DatabaseConnection,
    statements: Arc<AtomicU64>,
    public_url: String,
    providers: Providers,
) -> (AppState, Option<Sandboxes>) {
    let jobs = Jobs::default();
    let caches = Arc::new(Caches::new(now_playing::FRESH_FOR));
    let tracked_links = Arc::new(TrackedLinks::new(settings.jwt_secret_bytes(), &public_url));
    let events = {
        let caches = caches.clone();
        // An ended session is forgotten on every replica as soon as it hears.
        Arc::new(EventBus::new(&db).observed_by(move |event| caches.after(event)))
    };
    let notify = Arc::new(Notifier::new(
        db.clone(),
        clock.clone(),
        providers.fcm,
        providers.messenger,
        &public_url,
        tracked_links.clone(),
    ));
    let spotify = Arc::new(Spotify::new(
        db.clone(),
        clock.clone(),
        spotify::Config {
            client: providers.spotify,
            sealer: Sealer::new(settings.encryption_key.expose_secret()),
            links: LinkResolver::new(settings.spotify.short_link_hosts.clone()),
            authorize_base: providers.authorize_base,
            public_url: public_url.clone(),
        },
        notify.clone(),
        jobs.clone(),
    ));
    let accounts = Accounts::new(
        db.clone(),
        clock.clone(),
        caches.clone(),
        AccessTokens::new(settings.jwt_secret_bytes()),
        events.clone(),
    );
    let friends = Friends::new(db.clone(), clock.clone(), events.clone(), caches.clone());
    let persisted_queries = PersistedQueries::new(db.clone(), clock.clone(), settings.graphql.persisted_queries_max);
    let app = App {
        persisted_queries,
        personal_links: Signer::new(settings.jwt_secret_bytes(), "messenger-personal-link"),
        tracked_links,
        accounts,
        friends,
        spotify,
        notify,
        jobs,
        events,
        caches,
        telemetry: Telemetry::new(statements),
        shutdown: CancellationToken::new(),
        websockets: TaskTracker::new(),
        public_url,
        db,
        clock,
        settings,
    };
    (Arc::new(app), providers.sandboxes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn every_kind_of_job_is_registered_once() {
        let mut kinds: Vec<_> = registry().kinds().collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            [
                "check_recipient",
                "handle_inbox",
                "prune_devices",
                "send_bot_reply",
                "send_delivery",
                "sweep_shares",
                "warn_consent_expiry"
            ]
        );
    }

    /// Rows queued before a release must still decode after it.
    #[test]
    fn payloads_keep_their_stored_shape() {
        let id = Uuid::now_v7();
        let stored = |job: serde_json::Value| job.to_string();
        assert_eq!(
            serde_json::to_value(CheckRecipient { recipient_id: id }).unwrap(),
            json!({ "recipient_id": id })
        );
        assert_eq!(serde_json::to_value(SweepShares::default()).unwrap(), json!({}));
        assert_eq!(serde_json::to_value(WarnConsentExpiry::default()).unwrap(), json!({}));
        assert_eq!(serde_json::to_value(PruneDevices::default()).unwrap(), json!({}));
        assert_eq!(
            serde_json::to_value(SendDelivery { delivery_id: id }).unwrap(),
            json!({ "delivery_id": id })
        );
        let psid = "1234";
        assert_eq!(
            stored(serde_json::to_value(HandleInbox { psid: psid.into() }).unwrap()),
            stored(json!({ "psid": psid }))
        );
        assert_eq!(
            stored(serde_json::to_value(SendBotReply { psid: psid.into() }).unwrap()),
            stored(json!({ "psid": psid }))
        );
    }
}
