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
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    accounts::{throttle::LoginThrottle, tokens::AccessTokens, viewer_cache::ViewerCache},
    clock::{Clock, SystemClock},
    config::Settings,
    crypto::{Sealer, Signer},
    db, detection,
    events::{self, EventBus},
    friends, graphql, http, jobs,
    notify::{
        fcm::{FcmClient, ServiceAccount},
        messenger_send::MessengerClient,
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
    /// Sessions and their users, remembered for a few seconds.
    pub viewers: ViewerCache,
    /// Friends lists with their users, for a few seconds.
    pub friend_lists: friends::ListCache,
    /// Who a handle on the public now-playing route is (`None`: unknown or
    /// not public), for 15 seconds.
    pub public_now_playing: crate::cache::TtlCache<String, Option<entity::users::Model>>,
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
    /// Open WebSocket connections: shutdown waits until each has sent its
    /// close frame.
    pub websockets: TaskTracker,
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
    pub messenger: Option<MessengerClient>,
    /// Checks webhook signatures (`X-Hub-Signature-256`).
    pub messenger_app_secret: Option<SecretString>,
    /// Answers the webhook subscription handshake.
    pub messenger_verify_token: Option<SecretString>,
    /// The Google, FCM and Send API stand-ins, in sandbox mode.
    pub provider_sandbox: Option<Arc<ProviderSandbox>>,
    /// Names this process's workers in job leases (`locked_by`).
    pub instance_id: String,
    /// Wakes an idle worker when this process enqueues work.
    pub jobs_enqueued: tokio::sync::Notify,
    /// Stores webhook posts, several per transaction under load.
    pub inbox_writer: crate::messenger::webhook::InboxWriter,
    /// One claim at a time in this process (SQLite has a single writer).
    pub claim_lock: tokio::sync::Mutex<()>,
}

/// Cheap to clone; handed to axum and to async-graphql alike.
pub type AppState = Arc<App>;

/// In sandbox mode, unless set: the app secret that signs webhook events
/// (`POST /sandbox/messenger/send` signs with it) and the handshake token.
pub const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";
pub const SANDBOX_VERIFY_TOKEN: &str = "sandbox-verify-token";

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "sendsongs".into())
}

impl App {
    pub fn statements_run(&self) -> u64 {
        self.db_statements.load(Ordering::Relaxed)
    }
}

/// A built server: listening, migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
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
        detection::sweep::enqueue(&db, now + detection::sweep::EVERY, now).await?;

        let listener = http::bind(settings.listen_addr).await?;
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
            let messenger = MessengerClient::new(format!("{own}/sandbox/graph"), SecretString::from(PAGE_TOKEN));
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
                .map(|token| MessengerClient::new(settings.messenger.graph_url.clone(), token));
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
            instance_id: format!("{}-{}", hostname(), &uuid::Uuid::new_v4().simple().to_string()[..8]),
            jobs_enqueued: tokio::sync::Notify::new(),
            claim_lock: tokio::sync::Mutex::new(()),
            inbox_writer: Default::default(),
            now_playing: NowPlayingCache::default(),
            tokens: AccessTokens::new(settings.jwt_secret_bytes()),
            db,
            settings,
            clock,
            throttle: LoginThrottle::default(),
            viewers: ViewerCache::default(),
            friend_lists: friends::ListCache::new(friends::LIST_TTL),
            public_now_playing: crate::cache::TtlCache::new(crate::spotify::now_playing::FRESH_FOR),
            events,
            metrics: telemetry::metrics_handle(),
            db_statements,
            shutdown: CancellationToken::new(),
            websockets: TaskTracker::new(),
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
        Ok(Self {
            listener,
            state,
            event_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
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
        let workers = jobs::worker::spawn(&state, state.settings.job_workers, state.settings.job_poll_interval);
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
