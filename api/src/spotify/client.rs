//! The one Spotify HTTP client: accounts service (token exchange, refresh,
//! app tokens) and the Web API endpoints Send Songs reads.
//!
//! Every call has a timeout; 5xx and network errors are retried with
//! exponential backoff; a 429 pauses *every* call in the process until its
//! `Retry-After` has passed (Spotify's limit is per app, not per request).
//! Calls are counted by endpoint and outcome on `/metrics`.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::links::TrackId;

/// Attempts for a call that meets 5xx or network trouble.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// A caller waits at most this long for a rate-limit pause; longer pauses
/// are reported to it instead (a job reschedules, a request answers 429).
const MAX_WAIT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to Spotify, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum SpotifyError {
    /// 401: the access token is expired or revoked; refresh and retry once.
    #[error("spotify rejected the access token")]
    Unauthorized,
    /// `invalid_grant` on refresh: the person must link again.
    #[error("spotify refused the grant: {0}")]
    InvalidGrant(String),
    /// 429 whose pause is longer than a caller should wait.
    #[error("spotify asked us to wait {0:?}")]
    RateLimited(Duration),
    /// 5xx, timeouts and network errors that outlived the retries.
    #[error("spotify is unavailable: {0}")]
    Unavailable(String),
    /// A 4xx we did not expect, or a body we could not read.
    #[error("unexpected answer from spotify: {0}")]
    Unexpected(String),
}

/// Tokens from the accounts service.
#[derive(Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: i64,
    /// Present on code exchange; on refresh only when Spotify rotates it.
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
pub struct Profile {
    pub id: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiTrack {
    pub id: String,
    pub name: String,
    pub duration_ms: i64,
    #[serde(default)]
    pub artists: Vec<ApiArtist>,
    pub album: Option<ApiAlbum>,
    /// Set when Spotify relinked the requested track to another id. Since
    /// February 2026 Development Mode apps no longer receive it (Spotify's
    /// Web API changelog): the ISRC is then the way to tell a relinked play.
    pub linked_from: Option<LinkedFrom>,
    /// The recording's identifiers; `{}` for local files, absent in bodies
    /// that leave it out.
    #[serde(default)]
    pub external_ids: Option<ExternalIds>,
}

impl ApiTrack {
    /// The recording's ISRC, if Spotify gave one.
    pub fn isrc(&self) -> Option<&str> {
        self.external_ids
            .as_ref()?
            .isrc
            .as_deref()
            .filter(|isrc| !isrc.is_empty())
    }
}

/// A track's `external_ids` (Spotify's ExternalIdObject).
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalIds {
    /// International Standard Recording Code: one per recording, shared by
    /// the track ids Spotify has for it (a single and its album release).
    pub isrc: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiArtist {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiAlbum {
    pub name: String,
    #[serde(default)]
    pub images: Vec<ApiImage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiImage {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkedFrom {
    pub id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlayHistory {
    pub track: ApiTrack,
    pub played_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct RecentlyPlayedPage {
    items: Vec<PlayHistory>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CurrentlyPlaying {
    pub is_playing: bool,
    pub item: Option<ApiTrack>,
    #[serde(default)]
    pub currently_playing_type: Option<String>,
    /// How far into `item` playback is, in milliseconds ("Progress into the
    /// currently playing track or episode. Can be null.").
    #[serde(default)]
    pub progress_ms: Option<i64>,
    /// Unix milliseconds when playback last changed state (play, pause,
    /// skip, scrub, new song), per Spotify's reference.
    #[serde(default)]
    pub timestamp: Option<i64>,
}

pub struct SpotifyClient {
    http: reqwest::Client,
    /// Base of `/api/token` (server to server).
    accounts_url: String,
    /// Base of `/v1/…`.
    api_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    /// Until when every call waits: Spotify answered 429 with `Retry-After`.
    paused_until: std::sync::Mutex<Option<Instant>>,
    /// The app's own token (client credentials) for catalogue reads, with
    /// its expiry; the lock makes concurrent callers share one fetch.
    app_token: Mutex<Option<(String, Instant)>>,
}

impl SpotifyClient {
    pub fn new(accounts_url: String, api_url: String, client_id: String, client_secret: Option<SecretString>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client builds");
        Self {
            http,
            accounts_url,
            api_url,
            client_id,
            client_secret,
            paused_until: std::sync::Mutex::new(None),
            app_token: Mutex::new(None),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant, SpotifyError> {
        self.token_request(
            "token:authorization_code",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenGrant, SpotifyError> {
        self.token_request(
            "token:refresh_token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn me(&self, access_token: &str) -> Result<Profile, SpotifyError> {
        let url = format!("{}/v1/me", self.api_url);
        let response = self
            .send("me", || self.http.get(&url).bearer_auth(access_token))
            .await?;
        read_json(response).await
    }

    /// Track metadata, read with the app's own token.
    #[tracing::instrument(skip(self), fields(track = %id))]
    pub async fn track(&self, id: &TrackId) -> Result<ApiTrack, SpotifyError> {
        let url = format!("{}/v1/tracks/{}", self.api_url, id);
        for attempt in 0..2 {
            let token = self.app_token(attempt > 0).await?;
            match self.send("tracks", || self.http.get(&url).bearer_auth(&token)).await {
                Err(SpotifyError::Unauthorized) if attempt == 0 => continue,
                Err(err) => return Err(err),
                Ok(response) => return read_json(response).await,
            }
        }
        Err(SpotifyError::Unauthorized)
    }

    /// Plays after `after` (exclusive), newest first, at most 50.
    #[tracing::instrument(skip(self, access_token))]
    pub async fn recently_played(
        &self,
        access_token: &str,
        after: Option<DateTime<Utc>>,
        limit: u8,
    ) -> Result<Vec<PlayHistory>, SpotifyError> {
        let mut url = format!(
            "{}/v1/me/player/recently-played?limit={}",
            self.api_url,
            limit.clamp(1, 50)
        );
        if let Some(after) = after {
            url.push_str(&format!("&after={}", after.timestamp_millis()));
        }
        let response = self
            .send("recently-played", || self.http.get(&url).bearer_auth(access_token))
            .await?;
        Ok(read_json::<RecentlyPlayedPage>(response).await?.items)
    }

    /// What is playing now; `None` when nothing is (204, or 404 for no device).
    #[tracing::instrument(skip_all)]
    pub async fn currently_playing(&self, access_token: &str) -> Result<Option<CurrentlyPlaying>, SpotifyError> {
        let url = format!("{}/v1/me/player/currently-playing", self.api_url);
        let response = self
            .send("currently-playing", || self.http.get(&url).bearer_auth(access_token))
            .await;
        let response = match response {
            Err(SpotifyError::Unexpected(message)) if message.starts_with("404") => return Ok(None),
            other => other?,
        };
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let playing: CurrentlyPlaying = read_json(response).await?;
        Ok(playing.item.is_some().then_some(playing))
    }

    async fn app_token(&self, renew: bool) -> Result<String, SpotifyError> {
        let mut cached = self.app_token.lock().await;
        if !renew
            && let Some((token, expires)) = cached.as_ref()
            && *expires > Instant::now()
        {
            return Ok(token.clone());
        }
        let grant = self
            .token_request("token:client_credentials", &[("grant_type", "client_credentials")])
            .await?;
        let lifetime = Duration::from_secs(grant.expires_in.max(60) as u64 - 30);
        *cached = Some((grant.access_token.clone(), Instant::now() + lifetime));
        Ok(grant.access_token)
    }

    async fn token_request(&self, endpoint: &'static str, form: &[(&str, &str)]) -> Result<TokenGrant, SpotifyError> {
        let url = format!("{}/api/token", self.accounts_url);
        let response = self
            .send(endpoint, || {
                let request = self.http.post(&url).form(form);
                match &self.client_secret {
                    Some(secret) => request.basic_auth(&self.client_id, Some(secret.expose_secret())),
                    // PKCE without a secret: the client id goes in the body.
                    None => self
                        .http
                        .post(&url)
                        .form(&[form, &[("client_id", self.client_id.as_str())]].concat()),
                }
            })
            .await;
        match response {
            Err(SpotifyError::Unexpected(body)) if body.contains("invalid_grant") => {
                Err(SpotifyError::InvalidGrant(oauth_error_description(&body)))
            }
            other => read_json(other?).await,
        }
    }

    /// Sends with the process-wide 429 pause, retries and metrics.
    async fn send(
        &self,
        endpoint: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SpotifyError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            self.wait_for_pause()?.await;
            attempt += 1;
            let started = Instant::now();
            let result = build().send().await;
            let outcome = match &result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".into(),
                Err(_) => "network".into(),
            };
            metrics::counter!("spotify_requests_total", "endpoint" => endpoint, "outcome" => outcome).increment(1);
            metrics::histogram!("spotify_request_duration_seconds", "endpoint" => endpoint)
                .record(started.elapsed().as_secs_f64());
            let retryable = match result {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(&response).unwrap_or(Duration::from_secs(1));
                    tracing::warn!(
                        endpoint,
                        wait_secs = wait.as_secs(),
                        "spotify rate limit: pausing all calls"
                    );
                    self.pause_for(wait);
                    // The pause is honoured at the top of the loop; it does not use up an attempt.
                    attempt -= 1;
                    continue;
                }
                Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    return Err(SpotifyError::Unauthorized);
                }
                Ok(response) if response.status().is_server_error() => format!("{}", response.status()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    return Err(SpotifyError::Unexpected(format!("{status} {}", truncate(&body))));
                }
                Err(err) if err.is_timeout() => "timed out".to_owned(),
                Err(err) => format!("network error: {}", without_url(&err)),
            };
            if attempt >= ATTEMPTS {
                return Err(SpotifyError::Unavailable(retryable));
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    /// A future that ends when the process-wide pause is over, or an error
    /// when the pause is longer than a caller should wait.
    fn wait_for_pause(&self) -> Result<tokio::time::Sleep, SpotifyError> {
        let until = *self.paused_until.lock().expect("pause lock");
        let remaining = until
            .map(|u| u.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        if remaining > MAX_WAIT {
            return Err(SpotifyError::RateLimited(remaining));
        }
        Ok(tokio::time::sleep(remaining))
    }

    fn pause_for(&self, wait: Duration) {
        let mut until = self.paused_until.lock().expect("pause lock");
        let proposed = Instant::now() + wait;
        if until.is_none_or(|u| u < proposed) {
            *until = Some(proposed);
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, SpotifyError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SpotifyError::Unavailable(format!("reading the body: {}", without_url(&e))))?;
    serde_json::from_slice(&bytes).map_err(|e| SpotifyError::Unexpected(format!("unreadable body: {e}")))
}

fn oauth_error_description(body: &str) -> String {
    let json = body.split_once(' ').map_or(body, |(_, rest)| rest);
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["error_description"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "invalid_grant".into())
}

/// reqwest errors print the URL; ours carry no secrets in URLs, but keep
/// messages short and uniform.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<spotify>");
    }
    text
}

fn truncate(body: &str) -> &str {
    let end = body.char_indices().nth(300).map_or(body.len(), |(i, _)| i);
    &body[..end]
}
