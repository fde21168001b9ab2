//! The test harness: each test gets the real app on a random port with a
//! fresh database (SQLite file, or its own PostgreSQL database when
//! `TEST_DATABASE_URL` names a server), and a clock it can move.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use api::{
    App, AppState, Application, Settings, clock::ManualClock, jobs::worker::Runner, sandbox::spotify::SpotifySandbox,
};
use futures_util::{SinkExt as _, StreamExt as _};
use sea_orm::{ColumnTrait as _, ConnectionTrait as _, Database, EntityTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue},
};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The app's state, for what only the server can do (the bot's links).
    pub state: AppState,
    /// Runs the app's jobs when a test says so.
    pub jobs: Arc<Runner<App>>,
    /// The Spotify stand-in on its own port (the app's default Spotify).
    pub spotify: Arc<SpotifySandbox>,
    pub database_url: String,
    /// Set by tests that kill jobs on purpose (see [`TestApp::expect_dead_jobs`]).
    dead_jobs_expected: AtomicBool,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _scratch: Option<Scratch>,
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub handle: String,
    pub email: String,
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

/// A test's database, removed when the test that made it ends (also when it
/// fails), so that a long-lived server does not collect test databases.
pub enum Scratch {
    /// The folder of an SQLite file.
    Dir(std::path::PathBuf),
    /// A PostgreSQL database: the server's admin URL and the name.
    Postgres { server: String, name: String },
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match self {
            Self::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { server, name } => {
                // Drop runs inside the test's runtime: drop the database from a
                // thread of its own, and never panic (a failing test unwinds here).
                let (server, name) = (server.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    runtime.block_on(on_server(&server, &sql)).ok()
                });
                let _ = dropped.join();
            }
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra settings (`("NAME", "value")`).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let (database_url, scratch) = fresh_database().await;
    let clock = ManualClock::new();
    let spotify = SpotifySandbox::new(clock.clone());
    spawn(extra, database_url, scratch, clock, spotify).await
}

/// A second server on the same database, clock and Spotify: another replica.
pub async fn spawn_replica(of: &TestApp, extra: &[(&str, &str)]) -> TestApp {
    spawn(
        extra,
        of.database_url.clone(),
        None,
        of.clock.clone(),
        of.spotify.clone(),
    )
    .await
}

async fn spawn(
    extra: &[(&str, &str)],
    database_url: String,
    scratch: Option<Scratch>,
    clock: Arc<ManualClock>,
    spotify: Arc<SpotifySandbox>,
) -> TestApp {
    let spotify_url = serve(api::sandbox::spotify::router(spotify.clone())).await;
    let accounts_url = format!("{spotify_url}/accounts");
    let api_url = format!("{spotify_url}/api");
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url.as_str()),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("SANDBOX", "off"),
        ("JWT_SECRET", "test-secret-test-secret-test-secret-0123"),
        ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("SPOTIFY_CLIENT_ID", "test-client"),
        ("SPOTIFY_CLIENT_SECRET", "test-client-secret"),
        ("SPOTIFY_ACCOUNTS_URL", accounts_url.as_str()),
        ("SPOTIFY_API_URL", api_url.as_str()),
        // Tests run jobs themselves (`run_due_jobs`), deterministically.
        ("JOB_WORKERS", "0"),
        // The moved clock drains no budget by itself: room for any test's
        // calls; the budget's own tests set theirs.
        ("SPOTIFY_DAILY_BUDGET", "1000000"),
        ("SPOTIFY_WINDOW_BUDGET", "100000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_vars(vars).expect("test settings are valid");
    print_logged_errors();
    let application = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("the app builds");
    let port = application.port();
    let state = application.state();
    let jobs = application.runner();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            // Longer than the pool's wait for a connection
            // (`api::db::ACQUIRE_TIMEOUT`): a burst's answer, not a timeout.
            .timeout(api::db::ACQUIRE_TIMEOUT * 2)
            .build()
            .unwrap(),
        clock,
        state,
        jobs,
        spotify,
        database_url,
        dead_jobs_expected: AtomicBool::new(false),
        stop: Some(stop),
        server: Some(server),
        _scratch: scratch,
    }
}

/// What the apps under test log at `ERROR` goes to the test's output (the
/// harness shows it when the test fails): an `INTERNAL` answer or a 5xx
/// page then comes with its cause.
fn print_logged_errors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::ERROR)
            .with_test_writer()
            .try_init();
    });
}

/// Serves `router` on a random loopback port; answers its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{address}")
}

/// Runs `sql` on the PostgreSQL server's admin database (creating and
/// dropping test databases).
async fn on_server(server: &str, sql: &str) -> Result<(), sea_orm::DbErr> {
    let admin = Database::connect(server).await?;
    let result = admin.execute_unprepared(sql).await;
    admin.close().await.ok();
    result.map(|_| ())
}

/// A database of its own for one test: its URL, and what removes it when
/// dropped.
pub async fn fresh_database() -> (String, Option<Scratch>) {
    match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        Some(server) => {
            let name = format!("sendsongs_test_{}", Uuid::new_v4().simple());
            on_server(&server, &format!("CREATE DATABASE {name}"))
                .await
                .expect("TEST_DATABASE_URL reachable, test database created");
            let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
            (format!("{base}/{name}"), Some(Scratch::Postgres { server, name }))
        }
        None => {
            let dir = std::env::temp_dir().join(format!("sendsongs-test-{}", Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
            (url, Some(Scratch::Dir(dir)))
        }
    }
}

/// True when the tests run on PostgreSQL (`TEST_DATABASE_URL`), where
/// replicas can share a database.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

impl TestApp {
    /// POSTs an operation; answers the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("a JSON body")
    }

    pub async fn sign_up(&self, handle: &str) -> Session {
        let email = format!("{handle}@example.com");
        let body = self
            .graphql(
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id handle } } }",
                json!({ "input": { "email": email, "password": PASSWORD, "handle": handle, "displayName": handle } }),
                None,
            )
            .await;
        let payload = &body["data"]["signUp"];
        assert!(payload.is_object(), "sign-up failed: {body}");
        Session {
            handle: handle.to_owned(),
            email,
            user_id: payload["user"]["id"].as_str().unwrap().to_owned(),
            access: payload["accessToken"].as_str().unwrap().to_owned(),
            refresh: payload["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Makes `a` and `b` accepted friends.
    pub async fn befriend(&self, a: &Session, b: &Session) {
        let add = "mutation($h: String!) { addFriend(handle: $h) { status } }";
        let first = self.graphql(add, json!({ "h": b.handle }), Some(&a.access)).await;
        assert_eq!(first["data"]["addFriend"]["status"], "REQUESTED", "{first}");
        let second = self.graphql(add, json!({ "h": a.handle }), Some(&b.access)).await;
        assert_eq!(second["data"]["addFriend"]["status"], "ACCEPTED", "{second}");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// The value of an unlabelled counter on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Lets any page read what `session` plays (`/v1/users/{handle}/now-playing`).
    pub async fn make_now_playing_public(&self, session: &Session) {
        let body = self
            .graphql(
                "mutation { updateSettings(input: { nowPlayingPublic: true }) { settings { nowPlayingPublic } } }",
                json!({}),
                Some(&session.access),
            )
            .await;
        assert_eq!(
            body["data"]["updateSettings"]["settings"]["nowPlayingPublic"], true,
            "{body}"
        );
    }

    /// Links Spotify for `session` as the sandbox account `account`, the
    /// way a browser would; answers the final page.
    pub async fn link_spotify(&self, session: &Session, account: &str) -> (reqwest::StatusCode, String) {
        let body = self
            .graphql(
                "mutation { connectSpotify { url expiresAt } }",
                json!({}),
                Some(&session.access),
            )
            .await;
        let url = body["data"]["connectSpotify"]["url"]
            .as_str()
            .expect("an authorize URL")
            .to_owned();
        self.browse(&format!("{url}&sandbox_account={account}")).await
    }

    /// GETs `url` following redirects, like a browser; answers status and body.
    pub async fn browse(&self, url: &str) -> (reqwest::StatusCode, String) {
        let response = self.client.get(url).send().await.expect("page loads");
        (response.status(), response.text().await.unwrap())
    }

    /// Runs every due background job now; answers how many ran.
    pub async fn run_due_jobs(&self) -> usize {
        self.jobs.run_due().await
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Where `url` redirects to (one hop, as a browser sees it).
    pub async fn location(&self, url: &str) -> String {
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = no_redirect.get(url).send().await.expect("request sent");
        let location = response.headers().get("location").expect("a redirect");
        location.to_str().unwrap().to_owned()
    }

    /// A direct connection to the app's database, to look at what is stored.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        Database::connect(&self.database_url).await.unwrap()
    }

    /// Opens a `graphql-transport-ws` connection, signed in as `token`.
    pub async fn subscribe(&self, token: Option<&str>, query: &str) -> Subscription {
        Subscription::open(self.port, "graphql-transport-ws", token, query).await
    }

    /// Stops the server the way SIGTERM does and waits for it to finish; the
    /// database stays until the `TestApp` is dropped, for what a test reads after.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.server.take().unwrap())
            .await
            .expect("the server stops within 15 s")
            .expect("the server task did not panic")
    }
}

impl TestApp {
    /// This test leaves jobs dead on purpose: skip the check at its end.
    pub fn expect_dead_jobs(&self) {
        self.dead_jobs_expected.store(true, Ordering::Relaxed);
    }

    /// The jobs the queue gave up on (kind and last error).
    fn dead_jobs(&self) -> Vec<(String, Option<String>)> {
        // Drop runs inside the test's runtime: read from a thread of its own.
        let url = self.database_url.clone();
        let read = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let db = Database::connect(&url).await.ok()?;
                let dead = entity::jobs::Entity::find()
                    .filter(entity::jobs::Column::Status.eq(entity::jobs::Status::Dead))
                    .all(&db)
                    .await
                    .ok();
                db.close().await.ok();
                dead
            })
        });
        let dead = read.join().ok().flatten().unwrap_or_default();
        dead.into_iter().map(|job| (job.kind, job.last_error)).collect()
    }
}

impl Drop for TestApp {
    /// Stops the server and, unless the test failed already or said it
    /// kills jobs, fails it when a job was left dead: a job that gave up
    /// means work was lost, whatever the test's own assertions saw.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if std::thread::panicking() || self.dead_jobs_expected.load(Ordering::Relaxed) {
            return;
        }
        let dead = self.dead_jobs();
        assert!(
            dead.is_empty(),
            "jobs were left dead: {dead:?} (a test that kills jobs on purpose calls `expect_dead_jobs`)"
        );
    }
}

/// Access tokens last 15 minutes: after moving the clock, log in again.
pub async fn relog(app: &TestApp, session: &Session) -> String {
    let body = app
        .graphql(
            "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }",
            json!({ "e": session.email, "p": PASSWORD }),
            None,
        )
        .await;
    body["data"]["logIn"]["accessToken"]
        .as_str()
        .expect("logged in again")
        .to_owned()
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("")
}

/// How the server closed a socket, and what it sent before.
#[derive(Debug)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
    /// The text messages before the close frame, keep-alives left out.
    pub before: Vec<Value>,
}

/// A live GraphQL subscription over WebSocket.
pub struct Subscription {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl Subscription {
    pub async fn open(port: u16, protocol: &'static str, token: Option<&str>, query: &str) -> Self {
        Self::open_on(port, protocol, token, json!({ "query": query })).await
    }

    /// A `graphql-transport-ws` subscription with variables.
    pub async fn open_with(port: u16, token: Option<&str>, query: &str, variables: Value) -> Self {
        Self::open_on(
            port,
            "graphql-transport-ws",
            token,
            json!({ "query": query, "variables": variables }),
        )
        .await
    }

    async fn open_on(port: u16, protocol: &'static str, token: Option<&str>, payload: Value) -> Self {
        let mut socket = Self::connect(port, protocol, token)
            .await
            .expect("connection acknowledged");
        let start = if protocol == "graphql-ws" { "start" } else { "subscribe" };
        socket
            .send(Message::text(
                json!({ "id": "1", "type": start, "payload": payload }).to_string(),
            ))
            .await
            .unwrap();
        // Give the server a moment to register the subscription.
        tokio::time::sleep(Duration::from_millis(150)).await;
        Self { socket, protocol }
    }

    /// Connects and sends `connection_init`; answers the socket once
    /// acknowledged, or the close reason.
    pub async fn connect(
        port: u16,
        protocol: &'static str,
        token: Option<&str>,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, String> {
        let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket opens");
        let payload = match token {
            Some(t) => json!({ "authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": payload }).to_string(),
            ))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .map_err(|_| "no answer to connection_init".to_owned())?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    match value["type"].as_str() {
                        Some("connection_ack") => return Ok(socket),
                        Some("connection_error") => return Err(value["payload"].to_string()),
                        _ => continue,
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map(|f| format!("{} {}", f.code, f.reason)).unwrap_or_default());
                }
                Some(Ok(_)) => continue,
                other => return Err(format!("{other:?}")),
            }
        }
    }

    /// The next event's payload (`data` and `errors`; an `error` message's
    /// errors as `errors`), waiting up to 5 s.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(5)).await
    }

    /// Waits up to `wait` for the server to close the socket; answers the
    /// close frame's code (1005 for a frame without one), or `None` when
    /// the connection ended with no close frame or stayed open.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        self.closing(wait).await.map(|closed| closed.code)
    }

    /// Waits up to `wait` for the server to close the socket; answers the
    /// close frame and the messages that came before it (keep-alives left
    /// out), or `None` when it ended with no close frame or stayed open.
    pub async fn closing(&mut self, wait: Duration) -> Option<Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut before = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?? {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if !matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                        before.push(value);
                    }
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) =
                        frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    return Some(Closed { code, reason, before });
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends a raw message (`subscribe`, `ping`…) on the socket; a socket
    /// the server closed already takes nothing.
    pub async fn send(&mut self, message: Value) {
        let _ = self.socket.send(Message::text(message.to_string())).await;
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let data_type = if self.protocol == "graphql-ws" { "data" } else { "next" };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??;
            match message {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == data_type {
                        return Some(value["payload"].clone());
                    }
                    if value["type"] == "error" {
                        // graphql-transport-ws sends the errors themselves.
                        return Some(match &value["payload"] {
                            Value::Array(errors) => json!({ "errors": errors }),
                            payload => payload.clone(),
                        });
                    }
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

/// What the apps of this test log from now on, from `INFO` up, as text
/// lines (see [`capture_log`]).
pub struct CapturedLog {
    lines: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLog {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().unwrap()).into_owned()
    }

    /// How many lines logged so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|line| line.contains(needle)).count()
    }
}

/// One capture's writer: appends to its buffer.
struct CaptureWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures what the app logs until the answer is dropped. A
/// `#[tokio::test]` runs the apps it spawns on its own thread, so this
/// thread's subscriber sees their lines, and no other test's. It records
/// events only, no spans: a span made here may be closed on another thread
/// (SQLite's worker), whose subscriber never knew it and would panic.
pub fn capture_log() -> CapturedLog {
    use tracing_subscriber::layer::SubscriberExt as _;
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(move || CaptureWriter(writer.clone()))
        .finish()
        .with(tracing_subscriber::filter::filter_fn(|meta| meta.is_event()));
    CapturedLog {
        lines,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}
