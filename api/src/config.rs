//! Typed settings, read once at start-up from the environment (and `.env`).
//!
//! Every setting of CONTRACT section 2 is here. A missing or malformed required
//! value is an error naming it; secrets are `SecretString`, which never prints.
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

#[derive(Debug)]
pub struct Settings {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    /// External base URL, without a trailing slash. When not set, the
    /// server's own bound address (`http://127.0.0.1:<port>`) is used.
    pub public_url: Option<String>,
    /// HMAC key for access tokens.
    pub jwt_secret: SecretString,
    /// 32-byte key for tokens stored at rest.
    pub encryption_key: SecretBox<[u8; 32]>,
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
}

#[derive(Debug)]
pub struct MessengerSettings {
    pub app_secret: Option<SecretString>,
    pub verify_token: Option<SecretString>,
    pub page_token: Option<SecretString>,
    pub graph_url: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, SettingError> {
        let _ = dotenvy::dotenv();
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads settings from the given variables; tests build them this way.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, SettingError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let spotify_client_id = get("SPOTIFY_CLIENT_ID");
        let spotify_client_secret = get("SPOTIFY_CLIENT_SECRET");
        let sandbox = match get("SANDBOX") {
            Some(v) => parse_bool("SANDBOX", &v)?,
            None => spotify_client_id.is_none() && spotify_client_secret.is_none(),
        };

        if !sandbox && (spotify_client_id.is_none() || spotify_client_secret.is_none()) {
            let name = if spotify_client_id.is_none() {
                "SPOTIFY_CLIENT_ID"
            } else {
                "SPOTIFY_CLIENT_SECRET"
            };
            return Err(bad(name, "is required unless SANDBOX is on"));
        }
        let jwt_secret = match get("JWT_SECRET") {
            Some(v) if v.len() < 32 => return Err(bad("JWT_SECRET", "must be at least 32 characters")),
            Some(v) => SecretString::from(v),
            None if sandbox => SecretString::from(random_base64(48)),
            None => return Err(bad("JWT_SECRET", "is required (or turn SANDBOX on)")),
        };
        let encryption_key = match get("ENCRYPTION_KEY") {
            Some(v) => parse_key(&v)?,
            None if sandbox => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                SecretBox::new(Box::new(key))
            }
            None => return Err(bad("ENCRYPTION_KEY", "is required (or turn SANDBOX on)")),
        };

        let listen_addr = get("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen_addr = listen_addr.parse().map_err(|_| {
            bad(
                "LISTEN_ADDR",
                format!("`{listen_addr}` is not an address like 127.0.0.1:8080"),
            )
        })?;

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(bad("LOG_FORMAT", format!("`{other}` is neither `pretty` nor `json`"))),
        };

        let duration = |name: &'static str, default: &str| -> Result<Duration, SettingError> {
            let value = get(name).unwrap_or_else(|| default.into());
            parse_duration(&value)
                .ok_or_else(|| bad(name, format!("`{value}` is not a duration like 30s, 5m, 2h or 7d")))
        };

        Ok(Self {
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://sendsongs.db?mode=rwc".into()),
            listen_addr,
            public_url: public_url(get("PUBLIC_URL"))?,
            jwt_secret,
            encryption_key,
            spotify: SpotifySettings {
                client_id: spotify_client_id,
                client_secret: spotify_client_secret.map(SecretString::from),
                accounts_url: url_setting(
                    "SPOTIFY_ACCOUNTS_URL",
                    get("SPOTIFY_ACCOUNTS_URL"),
                    "https://accounts.spotify.com",
                )?,
                api_url: url_setting("SPOTIFY_API_URL", get("SPOTIFY_API_URL"), "https://api.spotify.com")?,
                short_link_hosts: get("SPOTIFY_SHORT_LINK_HOSTS")
                    .map(|v| {
                        v.split(',')
                            .map(|h| h.trim().to_lowercase())
                            .filter(|h| !h.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            messenger: MessengerSettings {
                app_secret: get("MESSENGER_APP_SECRET").map(SecretString::from),
                verify_token: get("MESSENGER_VERIFY_TOKEN").map(SecretString::from),
                page_token: get("MESSENGER_PAGE_TOKEN").map(SecretString::from),
                graph_url: url_setting(
                    "MESSENGER_GRAPH_URL",
                    get("MESSENGER_GRAPH_URL"),
                    "https://graph.facebook.com/v25.0",
                )?,
            },
            fcm: FcmSettings {
                credentials: get("FCM_CREDENTIALS").map(PathBuf::from),
                api_url: url_setting("FCM_API_URL", get("FCM_API_URL"), "https://fcm.googleapis.com")?,
            },
            sandbox,
            play_check: PlayCheckSettings {
                fast_interval: duration("PLAY_CHECK_FAST_INTERVAL", "5m")?,
                fast_window: duration("PLAY_CHECK_FAST_WINDOW", "1h")?,
                slow_interval: duration("PLAY_CHECK_SLOW_INTERVAL", "1h")?,
                share_ttl: duration("SHARE_TTL", "7d")?,
            },
            job_workers: match get("JOB_WORKERS") {
                Some(v) => v
                    .parse()
                    .map_err(|_| bad("JOB_WORKERS", format!("`{v}` is not a number of workers")))?,
                None => 8,
            },
            job_poll_interval: duration("JOB_POLL_INTERVAL", "1s")?,
            log_format,
            graphql: GraphqlSettings {
                introspection: match get("GRAPHQL_INTROSPECTION") {
                    Some(v) => parse_bool("GRAPHQL_INTROSPECTION", &v)?,
                    None => true,
                },
                ws_init_timeout: duration("WS_INIT_TIMEOUT", "10s")?,
                ws_keepalive_interval: match duration("WS_KEEPALIVE_INTERVAL", "15s")? {
                    Duration::ZERO => return Err(bad("WS_KEEPALIVE_INTERVAL", "must be longer than 0s")),
                    every => every,
                },
                cors_allowed_origins: cors_origins(get("CORS_ALLOWED_ORIGINS"))?,
            },
        })
    }

    pub fn jwt_secret_bytes(&self) -> &[u8] {
        self.jwt_secret.expose_secret().as_bytes()
    }
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
        _ => Err(bad(name, format!("`{value}` is not on/off"))),
    }
}

fn parse_key(value: &str) -> Result<SecretBox<[u8; 32]>, SettingError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| bad("ENCRYPTION_KEY", "is not valid base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| bad("ENCRYPTION_KEY", format!("must decode to 32 bytes, not {}", b.len())))?;
    Ok(SecretBox::new(Box::new(key)))
}

/// Spotify accepts redirect URIs on HTTPS or a loopback IP, never `localhost`.
fn public_url(value: Option<String>) -> Result<Option<String>, SettingError> {
    let Some(value) = value else { return Ok(None) };
    let url = url_setting("PUBLIC_URL", Some(value), "")?;
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

fn url_setting(name: &'static str, value: Option<String>, default: &str) -> Result<String, SettingError> {
    let value = value.unwrap_or_else(|| default.into());
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(bad(name, format!("`{value}` is not an http(s) URL")));
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
        assert!(err.to_string().contains("32 bytes"));
    }

    #[test]
    fn malformed_values_are_named() {
        let err = Settings::from_vars(vars(&[("PLAY_CHECK_FAST_INTERVAL", "often")])).unwrap_err();
        assert_eq!(err.name, "PLAY_CHECK_FAST_INTERVAL");
        let err = Settings::from_vars(vars(&[("LISTEN_ADDR", "nowhere")])).unwrap_err();
        assert_eq!(err.name, "LISTEN_ADDR");
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
        ] {
            let err = Settings::from_vars(vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.name, name, "{value}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings::from_vars(vars(&[("JWT_SECRET", "a-very-secret-value-that-is-long-enough")])).unwrap();
        assert!(!format!("{settings:?}").contains("a-very-secret"));
    }
}
