//! The application: its shared state, and building and running the server.
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    accounts::{throttle::LoginThrottle, tokens::AccessTokens},
    bot::inbox::HandleInbox,
    cache::Caches,
    clock::{Clock, SystemClock},
    config::Settings,
    crypto::{Sealer, Signer},
    db,
    detection::{self, check::CheckRecipient, sweep::SweepShares},
    events::{self, EventBus},
    graphql, http,
    jobs::{Job as _, Jobs, Registry, worker::Runner},
    messenger::send_api::SendApi,
    notify::{
        fcm::{FcmClient, ServiceAccount},
        replies::SendBotReply,
        send::SendDelivery,
    },
    sandbox::{
        providers::{PAGE_TOKEN, ProviderSandbox},
        spotify::SpotifySandbox,
    },
    spotify::{SpotifyClient, links::LinkResolver, now_playing::NowPlayingCache, vault::RefreshLocks},
    telemetry,
};

/// Everything a request handler, resolver or worker needs, built once.
pub struct App {
    /// The one database pool (SQLite or PostgreSQL); all state lives there.
    pub db: DatabaseConnection,
    /// Settings read at start-up.
    pub settings: Settings,
    /// "Now" for everything time-based; tests substitute a clock they move.
    pub clock: Arc<dyn Clock>,
    /// Signs and checks access tokens with `JWT_SECRET`.
    pub tokens: AccessTokens,
    /// Every short-lived cache of people (sessions, friends lists, public
    /// handles).
    pub caches: Arc<Caches>,
    /// Failed log-ins by email and address, to slow down guessing.
    pub throttle: LoginThrottle,
    /// Live events for GraphQL subscriptions.
    pub events: EventBus,
    /// The Prometheus registry that `/metrics` renders.
    pub metrics: PrometheusHandle,
    /// Statements this app sent to the database; exported on `/metrics`, so
    /// query counts (an N+1 regression, say) are visible per process.
    pub db_statements: Arc<AtomicU64>,
    /// Cancelled when the server stops: WebSocket connections and workers
    /// watch it to finish what they are doing and leave.
    pub shutdown: CancellationToken,
    /// External base URL (setting, or this server's own address).
    pub public_url: String,
    /// Seals secrets stored in the database (Spotify tokens, PKCE verifiers).
    pub sealer: Sealer,
    /// Signs the personal links the Messenger bot sends.
    pub link_signer: Signer,
    /// The one Spotify client (real, or pointed at the sandbox stand-in).
    pub spotify: SpotifyClient,
    /// Where browsers are sent to authorize (`…/authorize`).
    pub spotify_authorize_base: String,
    /// One Spotify token refresh at a time per person.
    pub refresh_locks: RefreshLocks,
    /// Short links (spotify.link) are followed through this.
    pub link_resolver: LinkResolver,
    /// "Now playing" per person, 15 seconds.
    pub now_playing: NowPlayingCache,
    /// The Spotify stand-in, in sandbox mode.
    pub spotify_sandbox: Option<Arc<SpotifySandbox>>,
    /// FCM HTTP v1, when a service account is configured (or in sandbox mode).
    pub fcm: Option<FcmClient>,
    /// The Messenger Send API, when a Page token is configured (or in sandbox mode).
    pub messenger: Option<SendApi>,
    /// Checks webhook signatures (`X-Hub-Signature-256`).
    pub messenger_app_secret: Option<SecretString>,
    /// Answers the webhook subscription handshake.
    pub messenger_verify_token: Option<SecretString>,
    /// The Google, FCM and Send API stand-ins, in sandbox mode.
    pub provider_sandbox: Option<Arc<ProviderSandbox>>,
    /// Wakes an idle worker once this process committed jobs.
    pub jobs: Jobs,
    /// Stores webhook posts, several per transaction under load.
    pub inbox_writer: crate::webhook::InboxWriter,
}

/// Cheap to clone; handed to axum and to async-graphql alike.
pub type AppState = Arc<App>;

/// In sandbox mode, unless set: the app secret that signs webhook events
/// (`POST /sandbox/messenger/send` signs with it) and the handshake token.
pub const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";
pub const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

impl AsRef<App> for App {
    fn as_ref(&self) -> &App {
        self
    }
}

impl App {
    pub fn statements_run(&self) -> u64 {
        self.db_statements.load(Ordering::Relaxed)
    }
}

/// Every kind of job this server runs.
pub fn registry() -> Registry<App> {
    Registry::default()
        .register::<CheckRecipient>()
        .register::<SweepShares>()
        .register::<SendDelivery>()
        .register::<HandleInbox>()
        .register::<SendBotReply>()
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
    /// PostgreSQL only: the connection that receives events from every replica.
    event_listener: Option<sea_orm::sqlx::postgres::PgListener>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with a given clock; tests pass one they can move forward.
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let mut db = db::connect(&settings.database_url).await?;
        let db_statements = Arc::new(AtomicU64::new(0));
        let counter = db_statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        db::migrate(&db).await?;
        // The hourly safety net for shares (one for all replicas).
        let now = clock.now();
        SweepShares::default()
            .enqueue_at(&db, now + detection::sweep::EVERY, now)
            .await?;

        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
        let bound = listener.local_addr()?;
        // Server-to-server calls to our own stand-ins go to the bound port.
        let own = format!("http://127.0.0.1:{}", bound.port());
        let public_url = settings.public_url.clone().unwrap_or_else(|| own.clone());

        let (spotify, spotify_authorize_base, spotify_sandbox) = if settings.sandbox {
            tracing::warn!(
                "sandbox mode: Spotify, the Send API, Google and FCM are served by stand-ins under /sandbox; \
                 JWT_SECRET and ENCRYPTION_KEY, when not set, are random for this process"
            );
            let client = SpotifyClient::new(
                format!("{own}/sandbox/spotify/accounts"),
                format!("{own}/sandbox/spotify/api"),
                "sendsongs-sandbox".into(),
                Some(SecretString::from("sandbox-secret")),
            );
            let base = format!("{public_url}/sandbox/spotify/accounts");
            (client, base, Some(SpotifySandbox::new(clock.clone())))
        } else {
            let client = SpotifyClient::new(
                settings.spotify.accounts_url.clone(),
                settings.spotify.api_url.clone(),
                settings.spotify.client_id.clone().unwrap_or_default(),
                settings.spotify.client_secret.clone(),
            );
            (client, settings.spotify.accounts_url.clone(), None)
        };
        let (fcm, messenger, provider_sandbox) = if settings.sandbox {
            let providers = ProviderSandbox::new(clock.clone());
            let account =
                ServiceAccount::parse(&providers.service_account_json(&format!("{own}/sandbox/google/token")))?;
            let fcm = FcmClient::new(format!("{own}/sandbox/fcm"), account)?;
            let messenger = SendApi::new(format!("{own}/sandbox/graph"), SecretString::from(PAGE_TOKEN));
            (Some(fcm), Some(messenger), Some(providers))
        } else {
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
            (fcm, messenger, None)
        };
        let events = EventBus::new(&db);
        let state = Arc::new(App {
            sealer: Sealer::new(settings.encryption_key.expose_secret()),
            link_signer: Signer::new(settings.jwt_secret_bytes(), "messenger-personal-link"),
            link_resolver: LinkResolver::new(settings.spotify.short_link_hosts.clone()),
            public_url,
            spotify,
            spotify_authorize_base,
            spotify_sandbox,
            refresh_locks: RefreshLocks::default(),
            fcm,
            messenger,
            provider_sandbox,
            messenger_app_secret: settings
                .messenger
                .app_secret
                .clone()
                .or_else(|| settings.sandbox.then(|| SecretString::from(SANDBOX_APP_SECRET))),
            messenger_verify_token: settings
                .messenger
                .verify_token
                .clone()
                .or_else(|| settings.sandbox.then(|| SecretString::from(SANDBOX_VERIFY_TOKEN))),
            jobs: Jobs::default(),
            inbox_writer: Default::default(),
            now_playing: NowPlayingCache::default(),
            tokens: AccessTokens::new(settings.jwt_secret_bytes()),
            db,
            settings,
            clock,
            throttle: LoginThrottle::default(),
            caches: Arc::new(Caches::new(crate::spotify::now_playing::FRESH_FOR)),
            events,
            metrics: telemetry::metrics_handle(),
            db_statements,
            shutdown: CancellationToken::new(),
        });
        // On PostgreSQL events travel through LISTEN/NOTIFY: listen before
        // serving, so no event published after start-up is missed.
        let event_listener = if db::is_postgres(&state.db) {
            Some(
                events::connect_listener(&state.settings.database_url)
                    .await
                    .context("listening for events on PostgreSQL")?,
            )
        } else {
            None
        };
        let runner = runner(&state);
        Ok(Self {
            listener,
            state,
            runner,
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
        let router = http::router(state.clone(), schema);
        tracing::info!(address = %self.listener.local_addr()?, "listening");
        let stopping = state.shutdown.clone();
        if let Some(listener) = self.event_listener {
            tokio::spawn(events::listen(
                listener,
                state.settings.database_url.clone(),
                state.clone(),
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
        // Workers stop claiming at once and finish what they hold.
        for worker in workers {
            let _ = worker.await;
        }
        state.db.clone().close().await.ok();
        Ok(())
    }
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
                "send_bot_reply",
                "send_delivery",
                "sweep_shares"
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
