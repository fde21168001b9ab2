//! Typed settings, read once at start-up from the environment (and `.env`).
//!
//! [`SETTINGS`] is the one list of settings: the parser reads a variable
//! only through it (defaults included), and `sendsongs --help` prints it,
//! so a setting cannot be missing from the help. A missing or malformed
//! required value is an error naming it; secrets are `SecretString`, which
//! never prints, and are never quoted back in an error.
use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// A setting that is missing or malformed: start-up stops with this one line.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingError {
    pub name: &'static str,
    pub problem: String,
}

fn bad(name: &'static str, problem: impl Into<String>) -> SettingError {
    SettingError {
        name,
        problem: problem.into(),
    }
}

/// One environment variable the server reads.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    /// What an unset (or empty) variable means.
    pub unset: Unset,
    /// What it does and what a valid value looks like, in a sentence.
    pub meaning: &'static str,
}

/// What an unset variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// This value is used: the parser reads it from here.
    Value(&'static str),
    /// No value: the feature it configures is off.
    Off,
    /// What happens instead, in words.
    Described(&'static str),
}

/// The filter of `RUST_LOG` when it is unset.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Every setting, in the order `--help` and the README list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "DATABASE_URL",
        unset: Unset::Value("sqlite://sendsongs.db?mode=rwc"),
        meaning: "The database: an SQLite file (sqlite://path?mode=rwc; mode=rwc creates it; WAL, foreign keys \
                  on) or PostgreSQL (postgres://user:password@host:5432/db), which replicas share.",
    },
    Setting {
        name: "LISTEN_ADDR",
        unset: Unset::Value("127.0.0.1:8080"),
        meaning: "Address the HTTP server binds, like 127.0.0.1:8080 or 0.0.0.0:8080 (port 0: any free port).",
    },
    Setting {
        name: "PUBLIC_URL",
        unset: Unset::Described("the bound address, http://127.0.0.1:<port>"),
        meaning: "External base URL, for OAuth redirects and links sent to people: https, or http on \
                  127.0.0.1 (Spotify refuses other http redirects, localhost included).",
    },
    Setting {
        name: "JWT_SECRET",
        unset: Unset::Described("sandbox: made once and kept in the database; else required"),
        meaning: "HMAC key for access tokens, at least 32 characters.",
    },
    Setting {
        name: "ENCRYPTION_KEY",
        unset: Unset::Described("sandbox: made once and kept in the database; else required"),
        meaning: "Base64 of 32 random bytes (openssl rand -base64 32); encrypts Spotify tokens at rest.",
    },
    Setting {
        name: "SPOTIFY_CLIENT_ID",
        unset: Unset::Off,
        meaning: "Spotify app credentials, with SPOTIFY_CLIENT_SECRET; required unless SANDBOX is on.",
    },
    Setting {
        name: "SPOTIFY_CLIENT_SECRET",
        unset: Unset::Off,
        meaning: "The Spotify app's client secret.",
    },
    Setting {
        name: "SPOTIFY_ACCOUNTS_URL",
        unset: Unset::Value("https://accounts.spotify.com"),
        meaning: "Base of Spotify's /authorize and /api/token.",
    },
    Setting {
        name: "SPOTIFY_API_URL",
        unset: Unset::Value("https://api.spotify.com"),
        meaning: "Base of the Spotify Web API's /v1/...",
    },
    Setting {
        name: "SPOTIFY_MAX_PAUSE",
        unset: Unset::Value("15m"),
        meaning: "The longest a Spotify 429 pauses this server's calls to Spotify, whatever its Retry-After \
                  asks (at least 1s; every replica waits it out; the daily-quota 429 pauses until its \
                  Retry-After).",
    },
    Setting {
        name: "SPOTIFY_DAILY_BUDGET",
        unset: Unset::Value("1000"),
        meaning: "Calls one Spotify app (client id) may make in any rolling 24 hours, counted for all replicas \
                  together (at least 1): below Spotify's Development Mode daily quota, so it is never spent.",
    },
    Setting {
        name: "SPOTIFY_WINDOW_BUDGET",
        unset: Unset::Value("60"),
        meaning: "Calls one Spotify app (client id) may make in any rolling 30 seconds, counted for all \
                  replicas together (at least 1): below Spotify's rate limit, so it answers no 429.",
    },
    Setting {
        name: "SPOTIFY_SHORT_LINK_HOSTS",
        unset: Unset::Off,
        meaning: "Extra comma-separated host:port names treated like spotify.link (local stand-ins in tests).",
    },
    Setting {
        name: "MESSENGER_APP_SECRET",
        unset: Unset::Described("sandbox: sandbox-app-secret; else webhooks are refused"),
        meaning: "Checks Messenger webhook signatures (X-Hub-Signature-256).",
    },
    Setting {
        name: "MESSENGER_VERIFY_TOKEN",
        unset: Unset::Described("sandbox: sandbox-verify-token; else the handshake is refused"),
        meaning: "The token of the Messenger webhook subscription handshake.",
    },
    Setting {
        name: "MESSENGER_PAGE_TOKEN",
        unset: Unset::Described("sandbox: the stand-in's; else no Messenger messages are sent"),
        meaning: "Page access token for the Messenger Send API.",
    },
    Setting {
        name: "MESSENGER_GRAPH_URL",
        unset: Unset::Value("https://graph.facebook.com/v25.0"),
        meaning: "Base of the Messenger Send API (/me/messages).",
    },
    Setting {
        name: "MESSENGER_PAGE_ID",
        unset: Unset::Off,
        meaning: "The Messenger page's id or username (104872931258841, sendsongs): the Spotify page then offers \
                  a button that opens the page in Messenger with the link code as the m.me link's ref.",
    },
    Setting {
        name: "FCM_CREDENTIALS",
        unset: Unset::Described("sandbox: the stand-in's; else no pushes are sent"),
        meaning: "Path of a Google service-account JSON file (project_id, client_email, private_key, token_uri).",
    },
    Setting {
        name: "FCM_API_URL",
        unset: Unset::Value("https://fcm.googleapis.com"),
        meaning: "Base of the FCM HTTP v1 send endpoint.",
    },
    Setting {
        name: "SANDBOX",
        unset: Unset::Described("on when no Spotify credentials are set"),
        meaning: "on/off: serve stand-ins for Spotify, the Send API, Google and FCM under /sandbox and point \
                  the clients at them.",
    },
    Setting {
        name: "PLAY_CHECK_FAST_INTERVAL",
        unset: Unset::Value("5m"),
        meaning: "How often a new share's recipient is checked for a play (durations: 500ms, 30s, 5m, 2h, 7d).",
    },
    Setting {
        name: "PLAY_CHECK_FAST_WINDOW",
        unset: Unset::Value("1h"),
        meaning: "How long after sharing the fast checks go on.",
    },
    Setting {
        name: "PLAY_CHECK_SLOW_INTERVAL",
        unset: Unset::Value("1h"),
        meaning: "How often a share is checked after the fast window.",
    },
    Setting {
        name: "SHARE_TTL",
        unset: Unset::Value("7d"),
        meaning: "How long a share waits to be played before it expires.",
    },
    Setting {
        name: "LIVE_WINDOW",
        unset: Unset::Value("10m"),
        meaning: "How long after a share is opened its recipient's currently-playing is watched, for receipts \
                  within seconds (a share not opened: its first 2 minutes at most; 0s: never; plays are then \
                  found by the checks above).",
    },
    Setting {
        name: "LIVE_INTERVAL",
        unset: Unset::Value("15s"),
        meaning: "How often a watched recipient's currently-playing is asked (one call however many shares); \
                  longer than 0s.",
    },
    Setting {
        name: "JOB_WORKERS",
        unset: Unset::Value("8"),
        meaning: "Background workers in this process, each running up to 16 jobs at once (0: none).",
    },
    Setting {
        name: "JOB_POLL_INTERVAL",
        unset: Unset::Value("1s"),
        meaning: "How often an idle worker looks for due jobs (enqueues in this process wake it at once).",
    },
    Setting {
        name: "LOG_FORMAT",
        unset: Unset::Value("pretty"),
        meaning: "pretty, or json for structured logs (on standard output).",
    },
    Setting {
        name: "RUST_LOG",
        unset: Unset::Value(DEFAULT_LOG_FILTER),
        meaning: "Which logs to write: tracing filter directives, like debug or api=debug,info. At every level requests are logged by method and path, never the query string, and no secret is written.",
    },
    Setting {
        name: "GRAPHQL_INTROSPECTION",
        unset: Unset::Value("true"),
        meaning: "false turns schema introspection off (__schema and __type answer null; GraphiQL then says \
                  so and has no docs or completion).",
    },
    Setting {
        name: "CORS_ALLOWED_ORIGINS",
        unset: Unset::Off,
        meaning: "Comma-separated exact origins (https://app.example.com) of web apps allowed to call /graphql \
                  from a browser, credentials allowed; * for any origin, without credentials.",
    },
    Setting {
        name: "WS_INIT_TIMEOUT",
        unset: Unset::Value("10s"),
        meaning: "A WebSocket that sends no connection_init by then is closed (4408).",
    },
    Setting {
        name: "WS_KEEPALIVE_INTERVAL",
        unset: Unset::Value("15s"),
        meaning: "How often each WebSocket gets a ping (graphql-transport-ws) or ka (graphql-ws); longer than 0s.",
    },
    Setting {
        name: "PERSISTED_QUERIES_MAX",
        unset: Unset::Value("10000"),
        meaning: "How many automatic persisted queries (GraphQL documents clients send once, then by hash) the \
                  database keeps for every replica; past it the least recently used go (at least 1).",
    },
];

/// The settings for `--help`: each name with what unset means, then its
/// meaning wrapped under it.
pub fn help() -> String {
    let mut text = String::new();
    for setting in SETTINGS {
        let unset = match setting.unset {
            Unset::Value(value) => format!("default: {value}"),
            Unset::Off => "default: none".to_owned(),
            Unset::Described(what) => format!("default: {what}"),
        };
        text.push_str(&format!("  {}  [{unset}]\n", setting.name));
        let mut line = String::from("      ");
        for word in setting.meaning.split_whitespace() {
            if line.len() > 6 && line.len() + 1 + word.len() > 92 {
                text.push_str(line.trim_end());
                text.push('\n');
                line = String::from("      ");
            }
            if line.len() > 6 {
                line.push(' ');
            }
            line.push_str(word);
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Reads variables, only those in [`SETTINGS`]; tests see which it read.
struct Vars {
    values: HashMap<String, String>,
    #[cfg(test)]
    read: std::cell::RefCell<std::collections::BTreeSet<&'static str>>,
}

impl Vars {
    fn new(values: HashMap<String, String>) -> Self {
        Self {
            values,
            #[cfg(test)]
            read: Default::default(),
        }
    }

    fn setting(&self, name: &'static str) -> &'static Setting {
        #[cfg(test)]
        self.read.borrow_mut().insert(name);
        SETTINGS
            .iter()
            .find(|setting| setting.name == name)
            .unwrap_or_else(|| panic!("{name} is read but not listed in SETTINGS"))
    }

    /// The value, trimmed; `None` when unset or empty.
    fn get(&self, name: &'static str) -> Option<String> {
        self.setting(name);
        self.values
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value, or the default [`SETTINGS`] gives.
    fn or_default(&self, name: &'static str) -> String {
        match (self.get(name), self.setting(name).unset) {
            (Some(value), _) => value,
            (None, Unset::Value(default)) => default.to_owned(),
            (None, _) => panic!("{name} has no default value in SETTINGS"),
        }
    }

    fn duration(&self, name: &'static str) -> Result<Duration, SettingError> {
        let value = self.or_default(name);
        parse_duration(&value).ok_or_else(|| bad(name, format!("`{value}` is not a duration like 30s, 5m, 2h or 7d")))
    }

    /// A number; `what` says what a valid one looks like.
    fn number<T: std::str::FromStr>(&self, name: &'static str, what: &str) -> Result<T, SettingError> {
        let value = self.or_default(name);
        value.parse().map_err(|_| bad(name, format!("`{value}` is not {what}")))
    }

    fn flag(&self, name: &'static str) -> Result<bool, SettingError> {
        parse_bool(name, &self.or_default(name))
    }

    fn url(&self, name: &'static str) -> Result<String, SettingError> {
        url_setting(name, self.or_default(name))
    }
}

pub struct Settings {
    /// May hold a password: printed only through [`crate::db::redact_url`].
    pub database_url: String,
    pub listen_addr: SocketAddr,
    /// External base URL, without a trailing slash. When not set, the
    /// server's own bound address (`http://127.0.0.1:<port>`) is used.
    pub public_url: Option<String>,
    /// HMAC key for access tokens.
    pub jwt_secret: SecretString,
    /// 32-byte key for tokens stored at rest.
    pub encryption_key: SecretBox<[u8; 32]>,
    /// Secrets made up at random because they were not set (sandbox mode);
    /// start-up swaps them for the ones kept in the database.
    pub made_up: MadeUp,
    pub spotify: SpotifySettings,
    pub messenger: MessengerSettings,
    pub fcm: FcmSettings,
    /// Serve the provider stand-ins under `/sandbox` and point the clients at them.
    pub sandbox: bool,
    pub play_check: PlayCheckSettings,
    /// Background workers in this process (0: none; tests run jobs inline).
    pub job_workers: usize,
    /// How often an idle worker looks for due jobs.
    pub job_poll_interval: Duration,
    pub log_format: LogFormat,
    pub graphql: GraphqlSettings,
}

/// Which secrets [`Settings`] made up because none was set (sandbox mode
/// only): random values that last one process unless start-up keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MadeUp {
    pub jwt_secret: bool,
    pub encryption_key: bool,
}

impl std::fmt::Debug for Settings {
    /// Every field, secrets shown as `[REDACTED]` and the database URL
    /// without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("listen_addr", &self.listen_addr)
            .field("public_url", &self.public_url)
            .field("jwt_secret", &self.jwt_secret)
            .field("encryption_key", &self.encryption_key)
            .field("made_up", &self.made_up)
            .field("spotify", &self.spotify)
            .field("messenger", &self.messenger)
            .field("fcm", &self.fcm)
            .field("sandbox", &self.sandbox)
            .field("play_check", &self.play_check)
            .field("job_workers", &self.job_workers)
            .field("job_poll_interval", &self.job_poll_interval)
            .field("log_format", &self.log_format)
            .field("graphql", &self.graphql)
            .finish()
    }
}

/// How `/graphql` meets its clients: introspection, WebSockets, browsers
/// on other origins.
#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    /// `GRAPHQL_INTROSPECTION`: answer `__schema` and `__type` (GraphiQL's
    /// docs and completion need them). Off, GraphiQL says so.
    pub introspection: bool,
    /// `WS_INIT_TIMEOUT`: a socket that sends no `connection_init` by then
    /// is closed with 4408.
    pub ws_init_timeout: Duration,
    /// `WS_KEEPALIVE_INTERVAL`: how often an acknowledged socket gets a
    /// `ping` (graphql-transport-ws) or a `ka` (graphql-ws); never zero.
    pub ws_keepalive_interval: Duration,
    /// `CORS_ALLOWED_ORIGINS`: which web pages on other origins may call
    /// `/graphql` from a browser.
    pub cors_allowed_origins: CorsOrigins,
    /// `PERSISTED_QUERIES_MAX`: how many persisted queries the database
    /// keeps; the least recently used go first.
    pub persisted_queries_max: std::num::NonZeroUsize,
}

/// The origins allowed to call `/graphql` from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// These exact origins (`https://app.example.com`); empty: none.
    List(Vec<String>),
    /// `*`: any origin, never with credentials.
    Any,
}

#[derive(Debug)]
pub struct SpotifySettings {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub accounts_url: String,
    pub api_url: String,
    /// Extra `host:port`s treated as short-link hosts (local stand-ins for
    /// spotify.link in tests and demos).
    pub short_link_hosts: Vec<String>,
    /// `SPOTIFY_MAX_PAUSE`: the ceiling of the pause a rate-limit 429
    /// orders (at least a second).
    pub max_pause: Duration,
    /// `SPOTIFY_DAILY_BUDGET`: calls per Spotify app per rolling 24 hours.
    pub daily_budget: u32,
    /// `SPOTIFY_WINDOW_BUDGET`: calls per Spotify app per rolling 30 seconds.
    pub window_budget: u32,
}

#[derive(Debug)]
pub struct MessengerSettings {
    pub app_secret: Option<SecretString>,
    pub verify_token: Option<SecretString>,
    pub page_token: Option<SecretString>,
    pub graph_url: String,
    /// `MESSENGER_PAGE_ID`: the page's id or username, for
    /// `https://m.me/<page>?ref=<link code>` links.
    pub page_id: Option<String>,
}

#[derive(Debug)]
pub struct FcmSettings {
    /// Path of the service-account JSON.
    pub credentials: Option<PathBuf>,
    pub api_url: String,
}

#[derive(Debug, Clone, Copy)]
pub struct PlayCheckSettings {
    pub fast_interval: Duration,
    pub fast_window: Duration,
    pub slow_interval: Duration,
    pub share_ttl: Duration,
    /// `LIVE_WINDOW`: how long after a share is opened its recipient's
    /// currently-playing is watched (one not opened: its first 2 minutes
    /// at most); zero: never.
    pub live_window: Duration,
    /// `LIVE_INTERVAL`: how often it is asked meanwhile; never zero.
    pub live_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one
    /// (variables already set win over the file).
    pub fn from_env() -> Result<Self, SettingError> {
        match dotenvy::dotenv() {
            Err(err) if !err.not_found() => return Err(dotenv_error(err)),
            _ => {}
        }
        // Not `env::vars()`: it panics on a variable that is not UTF-8.
        let vars = std::env::vars_os()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .collect();
        Self::from_vars(vars)
    }

    /// Reads settings from the given variables; tests build them this way.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, SettingError> {
        Self::read(&Vars::new(vars))
    }

    fn read(vars: &Vars) -> Result<Self, SettingError> {
        let spotify_client_id = vars.get("SPOTIFY_CLIENT_ID");
        let spotify_client_secret = vars.get("SPOTIFY_CLIENT_SECRET");
        let sandbox = match vars.get("SANDBOX") {
            Some(v) => parse_bool("SANDBOX", &v)?,
            None => spotify_client_id.is_none() && spotify_client_secret.is_none(),
        };

        if !sandbox && (spotify_client_id.is_none() || spotify_client_secret.is_none()) {
            let name = if spotify_client_id.is_none() {
                "SPOTIFY_CLIENT_ID"
            } else {
                "SPOTIFY_CLIENT_SECRET"
            };
            return Err(bad(
                name,
                "is required unless SANDBOX is on (the Spotify app's credentials, from its dashboard)",
            ));
        }
        let mut made_up = MadeUp::default();
        let jwt_secret = match vars.get("JWT_SECRET") {
            Some(v) if v.len() < 32 => return Err(bad("JWT_SECRET", "must be at least 32 characters")),
            Some(v) => SecretString::from(v),
            None if sandbox => {
                made_up.jwt_secret = true;
                SecretString::from(random_base64(48))
            }
            None => {
                return Err(bad(
                    "JWT_SECRET",
                    "is required (at least 32 random characters), or turn SANDBOX on",
                ));
            }
        };
        let encryption_key = match vars.get("ENCRYPTION_KEY") {
            Some(v) => parse_key(&v)?,
            None if sandbox => {
                made_up.encryption_key = true;
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                SecretBox::new(Box::new(key))
            }
            None => {
                return Err(bad(
                    "ENCRYPTION_KEY",
                    format!("is required ({KEY_FORM}), or turn SANDBOX on"),
                ));
            }
        };

        let listen_addr = vars.or_default("LISTEN_ADDR");
        let listen_addr = listen_addr.parse().map_err(|_| {
            bad(
                "LISTEN_ADDR",
                format!("`{listen_addr}` is not an address like 127.0.0.1:8080 or 0.0.0.0:8080"),
            )
        })?;

        let log_format = match vars.or_default("LOG_FORMAT").as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => return Err(bad("LOG_FORMAT", format!("`{other}` is neither `pretty` nor `json`"))),
        };
        let log_filter = vars.or_default("RUST_LOG");
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            return Err(bad(
                "RUST_LOG",
                format!("`{log_filter}` is not a log filter like info or api=debug,info ({err})"),
            ));
        }

        Ok(Self {
            database_url: database_url(vars.or_default("DATABASE_URL"))?,
            listen_addr,
            public_url: public_url(vars.get("PUBLIC_URL"))?,
            jwt_secret,
            encryption_key,
            made_up,
            spotify: SpotifySettings {
                client_id: spotify_client_id,
                client_secret: spotify_client_secret.map(SecretString::from),
                accounts_url: vars.url("SPOTIFY_ACCOUNTS_URL")?,
                api_url: vars.url("SPOTIFY_API_URL")?,
                max_pause: match vars.duration("SPOTIFY_MAX_PAUSE")? {
                    short if short < Duration::from_secs(1) => {
                        return Err(bad("SPOTIFY_MAX_PAUSE", "must be at least 1s, like 15m"));
                    }
                    ceiling => ceiling,
                },
                daily_budget: budget(vars, "SPOTIFY_DAILY_BUDGET", "a number of calls like 1000")?,
                window_budget: budget(vars, "SPOTIFY_WINDOW_BUDGET", "a number of calls like 60")?,
                short_link_hosts: vars
                    .get("SPOTIFY_SHORT_LINK_HOSTS")
                    .map(|v| {
                        v.split(',')
                            .map(|h| h.trim().to_lowercase())
                            .filter(|h| !h.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            messenger: MessengerSettings {
                app_secret: vars.get("MESSENGER_APP_SECRET").map(SecretString::from),
                verify_token: vars.get("MESSENGER_VERIFY_TOKEN").map(SecretString::from),
                page_token: vars.get("MESSENGER_PAGE_TOKEN").map(SecretString::from),
                graph_url: vars.url("MESSENGER_GRAPH_URL")?,
                page_id: page_id(vars.get("MESSENGER_PAGE_ID"))?,
            },
            fcm: FcmSettings {
                credentials: fcm_credentials(vars.get("FCM_CREDENTIALS"))?,
                api_url: vars.url("FCM_API_URL")?,
            },
            sandbox,
            play_check: PlayCheckSettings {
                fast_interval: vars.duration("PLAY_CHECK_FAST_INTERVAL")?,
                fast_window: vars.duration("PLAY_CHECK_FAST_WINDOW")?,
                slow_interval: vars.duration("PLAY_CHECK_SLOW_INTERVAL")?,
                share_ttl: vars.duration("SHARE_TTL")?,
                live_window: vars.duration("LIVE_WINDOW")?,
                live_interval: match vars.duration("LIVE_INTERVAL")? {
                    Duration::ZERO => return Err(bad("LIVE_INTERVAL", "must be longer than 0s, like 15s")),
                    every => every,
                },
            },
            job_workers: vars.number("JOB_WORKERS", "a number of workers like 8 (0: none)")?,
            job_poll_interval: vars.duration("JOB_POLL_INTERVAL")?,
            log_format,
            graphql: GraphqlSettings {
                introspection: vars.flag("GRAPHQL_INTROSPECTION")?,
                ws_init_timeout: vars.duration("WS_INIT_TIMEOUT")?,
                ws_keepalive_interval: match vars.duration("WS_KEEPALIVE_INTERVAL")? {
                    Duration::ZERO => return Err(bad("WS_KEEPALIVE_INTERVAL", "must be longer than 0s, like 15s")),
                    every => every,
                },
                cors_allowed_origins: cors_origins(vars.get("CORS_ALLOWED_ORIGINS"))?,
                persisted_queries_max: vars
                    .number("PERSISTED_QUERIES_MAX", "a number of queries like 10000 (at least 1)")?,
            },
        })
    }

    pub fn jwt_secret_bytes(&self) -> &[u8] {
        self.jwt_secret.expose_secret().as_bytes()
    }
}

/// A budget of Spotify calls: a whole number, at least 1.
fn budget(vars: &Vars, name: &'static str, what: &str) -> Result<u32, SettingError> {
    match vars.number::<u32>(name, &format!("{what} (at least 1)"))? {
        0 => Err(bad(
            name,
            format!("must be at least 1, like {}", what.rsplit(' ').next().unwrap_or("1")),
        )),
        calls => Ok(calls),
    }
}

/// A page id (digits) or username (letters, digits and periods, as
/// Facebook allows them), which goes into `m.me` links as it is.
fn page_id(value: Option<String>) -> Result<Option<String>, SettingError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim_start_matches('@').to_owned();
    if value.len() > 100 || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(bad(
            "MESSENGER_PAGE_ID",
            format!(
                "`{value}` is not a page id or username: use the digits of the page's id (104872931258841) or \
                 its username (sendsongs), as in https://m.me/sendsongs"
            ),
        ));
    }
    Ok(Some(value))
}

fn random_base64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, SettingError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(bad(name, format!("`{value}` is not on/off (true/false, yes/no, 1/0)"))),
    }
}

/// What a valid `ENCRYPTION_KEY` looks like.
const KEY_FORM: &str = "base64 of 32 random bytes, as `openssl rand -base64 32` prints";

/// The key itself is never quoted back.
fn parse_key(value: &str) -> Result<SecretBox<[u8; 32]>, SettingError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| bad("ENCRYPTION_KEY", format!("is not base64; use {KEY_FORM}")))?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        bad(
            "ENCRYPTION_KEY",
            format!("decodes to {} bytes, not 32; use {KEY_FORM}", b.len()),
        )
    })?;
    Ok(SecretBox::new(Box::new(key)))
}

/// A `.env` that cannot be read. The line is not quoted back (it may hold
/// a secret); its variable's name is.
fn dotenv_error(err: dotenvy::Error) -> SettingError {
    let problem = match err {
        // The text is the whole line, or only its value.
        dotenvy::Error::LineParse(text, _) => {
            let name = text
                .split_once('=')
                .map(|(name, _)| name.trim())
                .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            let which = name.map_or_else(|| "a line".to_owned(), |name| format!("the line of {name}"));
            format!("{which} is not NAME=value; quote values with spaces or quotes: NAME=\"a b\"")
        }
        other => format!("cannot be read: {other}"),
    };
    bad(".env", problem)
}

/// SQLite or PostgreSQL, in a form the driver can open. A malformed value
/// is not quoted back: it may hold a password.
fn database_url(value: String) -> Result<String, SettingError> {
    crate::db::check_url(&value).map_err(|why| {
        bad(
            "DATABASE_URL",
            format!("{why}; use sqlite://path?mode=rwc or postgres://user:password@host:5432/db"),
        )
    })?;
    Ok(value)
}

/// The service-account file must be readable now, not at the first push.
fn fcm_credentials(value: Option<String>) -> Result<Option<PathBuf>, SettingError> {
    let Some(path) = value.map(PathBuf::from) else {
        return Ok(None);
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(Some(path)),
        Ok(_) => Err(bad(
            "FCM_CREDENTIALS",
            format!(
                "{} is not a file; use the path of a Google service-account JSON file",
                path.display()
            ),
        )),
        Err(err) => Err(bad(
            "FCM_CREDENTIALS",
            format!(
                "cannot read {} ({err}); use the path of a Google service-account JSON file",
                path.display()
            ),
        )),
    }
}

/// Spotify accepts redirect URIs on HTTPS or a loopback IP, never `localhost`.
fn public_url(value: Option<String>) -> Result<Option<String>, SettingError> {
    let Some(value) = value else { return Ok(None) };
    let url = url_setting("PUBLIC_URL", value)?;
    let loopback = ["http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|base| url == *base || url.starts_with(&format!("{base}:")) || url.starts_with(&format!("{base}/")));
    if url.starts_with("http://") && !loopback {
        return Err(bad(
            "PUBLIC_URL",
            format!(
                "`{url}` must be https, or http on 127.0.0.1 (Spotify refuses other http redirects, localhost included)"
            ),
        ));
    }
    Ok(Some(url))
}

/// `*`, or comma-separated origins exactly as browsers send them in `Origin`:
/// scheme, host and port, nothing after.
fn cors_origins(value: Option<String>) -> Result<CorsOrigins, SettingError> {
    const NAME: &str = "CORS_ALLOWED_ORIGINS";
    let Some(value) = value else {
        return Ok(CorsOrigins::List(Vec::new()));
    };
    let entries: Vec<&str> = value.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.contains(&"*") {
        return match entries.len() {
            1 => Ok(CorsOrigins::Any),
            _ => Err(bad(NAME, "`*` allows every origin: list origins or `*`, not both")),
        };
    }
    let mut origins = Vec::with_capacity(entries.len());
    for origin in entries {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| {
                bad(
                    NAME,
                    format!("`{origin}` is not an http(s) origin like https://app.example.com"),
                )
            })?;
        let host_and_port = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !host_and_port {
            return Err(bad(
                NAME,
                format!("`{origin}` is not an origin: scheme, host and port only, no path or trailing slash"),
            ));
        }
        origins.push(origin.to_ascii_lowercase());
    }
    Ok(CorsOrigins::List(origins))
}

fn url_setting(name: &'static str, value: String) -> Result<String, SettingError> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(bad(
            name,
            format!("`{value}` is not an http(s) URL like https://example.com"),
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Parses `30s`, `5m`, `2h`, `7d` (also `500ms`).
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => return Some(Duration::from_millis(number)),
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        "d" => number.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5w"), None);
    }

    #[test]
    fn sandbox_is_on_without_spotify_credentials_and_needs_no_secrets() {
        let settings = Settings::from_vars(vars(&[])).unwrap();
        assert!(settings.sandbox);
        assert_eq!(settings.database_url, "sqlite://sendsongs.db?mode=rwc");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings = Settings::from_vars(vars(&[
            ("DATABASE_URL", "postgres://app:hunter2-db@127.0.0.1:5432/songs"),
            ("JWT_SECRET", "jwt-secret-jwt-secret-jwt-secret-42"),
            ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ("SPOTIFY_CLIENT_ID", "client-id"),
            ("SPOTIFY_CLIENT_SECRET", "spotify-client-secret"),
            ("MESSENGER_APP_SECRET", "messenger-app-secret"),
            ("MESSENGER_VERIFY_TOKEN", "messenger-verify-token"),
            ("MESSENGER_PAGE_TOKEN", "messenger-page-token"),
        ]))
        .unwrap();
        let printed = format!("{settings:?} {settings:#?}");
        for secret in [
            "hunter2-db",
            "jwt-secret-jwt-secret",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "spotify-client-secret",
            "messenger-app-secret",
            "messenger-verify-token",
            "messenger-page-token",
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
        assert!(printed.contains("postgres://app:***@127.0.0.1:5432/songs"), "{printed}");
        assert_eq!(settings.made_up, MadeUp::default());
        let sandbox = Settings::from_vars(vars(&[])).unwrap();
        assert!(sandbox.made_up.jwt_secret && sandbox.made_up.encryption_key);
    }

    #[test]
    fn production_needs_secrets_and_names_the_missing_one() {
        let err = Settings::from_vars(vars(&[("SANDBOX", "off")])).unwrap_err();
        assert_eq!(err.name, "SPOTIFY_CLIENT_ID");
        let err = Settings::from_vars(vars(&[("SPOTIFY_CLIENT_ID", "x"), ("SPOTIFY_CLIENT_SECRET", "y")])).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
        let err = Settings::from_vars(vars(&[
            ("SANDBOX", "off"),
            ("SPOTIFY_CLIENT_ID", "x"),
            ("SPOTIFY_CLIENT_SECRET", "y"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEY", "c2hvcnQ="),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "ENCRYPTION_KEY");
        assert!(err.to_string().contains("5 bytes, not 32"), "{err}");
    }

    #[test]
    fn malformed_values_are_named() {
        let err = Settings::from_vars(vars(&[("PLAY_CHECK_FAST_INTERVAL", "often")])).unwrap_err();
        assert_eq!(err.name, "PLAY_CHECK_FAST_INTERVAL");
        let err = Settings::from_vars(vars(&[("LISTEN_ADDR", "nowhere")])).unwrap_err();
        assert_eq!(err.name, "LISTEN_ADDR");
        let err = Settings::from_vars(vars(&[("LIVE_INTERVAL", "0s")])).unwrap_err();
        assert_eq!(err.name, "LIVE_INTERVAL");
        let err = Settings::from_vars(vars(&[("LIVE_WINDOW", "soon")])).unwrap_err();
        assert_eq!(err.name, "LIVE_WINDOW");
    }

    #[test]
    fn live_checks_have_defaults() {
        let play_check = Settings::from_vars(vars(&[])).unwrap().play_check;
        assert_eq!(play_check.live_window, Duration::from_secs(600));
        assert_eq!(play_check.live_interval, Duration::from_secs(15));
    }

    #[test]
    fn the_page_id_is_an_id_or_a_username() {
        let page = |value: &str| Settings::from_vars(vars(&[("MESSENGER_PAGE_ID", value)]));
        assert_eq!(
            page("104872931258841").unwrap().messenger.page_id.as_deref(),
            Some("104872931258841")
        );
        assert_eq!(
            page("@send.songs").unwrap().messenger.page_id.as_deref(),
            Some("send.songs")
        );
        assert_eq!(Settings::from_vars(vars(&[])).unwrap().messenger.page_id, None);
        for wrong in ["send songs", "https://m.me/sendsongs", "page?ref=1", "<b>"] {
            assert_eq!(page(wrong).unwrap_err().name, "MESSENGER_PAGE_ID", "{wrong}");
        }
    }

    #[test]
    fn public_url_must_suit_spotify_redirects() {
        let err = Settings::from_vars(vars(&[("PUBLIC_URL", "http://localhost:8080")])).unwrap_err();
        assert_eq!(err.name, "PUBLIC_URL");
        let ok = Settings::from_vars(vars(&[("PUBLIC_URL", "https://songs.example/")])).unwrap();
        assert_eq!(ok.public_url.as_deref(), Some("https://songs.example"));
        assert!(Settings::from_vars(vars(&[("PUBLIC_URL", "http://127.0.0.1:9000")])).is_ok());
    }

    #[test]
    fn graphql_settings_have_defaults_and_refuse_nonsense() {
        let defaults = Settings::from_vars(vars(&[])).unwrap().graphql;
        assert!(defaults.introspection);
        assert_eq!(defaults.ws_init_timeout, Duration::from_secs(10));
        assert_eq!(defaults.ws_keepalive_interval, Duration::from_secs(15));
        assert_eq!(defaults.cors_allowed_origins, CorsOrigins::List(vec![]));
        assert_eq!(defaults.persisted_queries_max.get(), 10_000);

        let set = Settings::from_vars(vars(&[
            ("GRAPHQL_INTROSPECTION", "false"),
            ("WS_INIT_TIMEOUT", "3s"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://127.0.0.1:3000"),
        ]))
        .unwrap()
        .graphql;
        assert!(!set.introspection);
        assert_eq!(set.ws_init_timeout, Duration::from_secs(3));
        assert_eq!(
            set.cors_allowed_origins,
            CorsOrigins::List(vec!["https://app.example.com".into(), "http://127.0.0.1:3000".into()])
        );
        let any = Settings::from_vars(vars(&[("CORS_ALLOWED_ORIGINS", "*")])).unwrap();
        assert_eq!(any.graphql.cors_allowed_origins, CorsOrigins::Any);

        for (name, value) in [
            ("CORS_ALLOWED_ORIGINS", "*, https://app.example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("WS_KEEPALIVE_INTERVAL", "0s"),
            ("WS_INIT_TIMEOUT", "soon"),
            ("GRAPHQL_INTROSPECTION", "maybe"),
            ("PERSISTED_QUERIES_MAX", "0"),
            ("PERSISTED_QUERIES_MAX", "lots"),
        ] {
            let err = Settings::from_vars(vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.name, name, "{value}: {err}");
        }
    }

    #[test]
    fn every_variable_read_is_listed_and_every_listed_one_is_read() {
        let vars = Vars::new(HashMap::new());
        Settings::read(&vars).unwrap();
        let read = vars.read.into_inner();
        let listed: std::collections::BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
        assert_eq!(listed.len(), SETTINGS.len(), "each setting is listed once");
        assert_eq!(read, listed);
    }

    #[test]
    fn the_help_shows_each_setting_with_its_default() {
        let help = help();
        for setting in SETTINGS {
            let line = help
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("{}  [default: ", setting.name)))
                .unwrap_or_else(|| panic!("{} in\n{help}", setting.name));
            if let Unset::Value(value) = setting.unset {
                assert!(line.ends_with(&format!("[default: {value}]")), "{line}");
            }
        }
        assert!(help.lines().all(|line| line.len() <= 100), "{help}");
    }

    #[test]
    fn start_up_resources_are_checked_with_the_settings() {
        let err = Settings::from_vars(vars(&[("DATABASE_URL", "nonsense")])).unwrap_err();
        assert_eq!(err.name, "DATABASE_URL");
        let text = err.to_string();
        assert!(text.contains("sqlite://path?mode=rwc") && text.contains("postgres://user:password@host:5432/db"));
        assert!(!text.contains("nonsense"), "{text}");

        let err = Settings::from_vars(vars(&[("FCM_CREDENTIALS", "/nowhere/service-account.json")])).unwrap_err();
        assert_eq!(err.name, "FCM_CREDENTIALS");
        assert!(err.to_string().contains("/nowhere/service-account.json"), "{err}");

        let err = Settings::from_vars(vars(&[("RUST_LOG", "api=loudest")])).unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        let err = Settings::from_vars(vars(&[("ENCRYPTION_KEY", "not base64!")])).unwrap_err();
        assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");
    }

    #[test]
    fn a_broken_env_file_names_the_variable_but_not_its_value() {
        let err = dotenv_error(dotenvy::Error::LineParse("JWT_SECRET=two words".into(), 14));
        assert_eq!(err.name, ".env");
        let text = err.to_string();
        assert!(text.contains("JWT_SECRET") && !text.contains("words"), "{text}");
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings::from_vars(vars(&[("JWT_SECRET", "a-very-secret-value-that-is-long-enough")])).unwrap();
        assert!(!format!("{settings:?}").contains("a-very-secret"));
    }
}
