//! The one Spotify HTTP client: the accounts service (code exchange,
//! refresh, the app's own client-credentials token) and the Web API
//! endpoints Send Songs reads.
//!
//! Every call has a timeout; 5xx and network errors are retried with
//! exponential backoff. A 429 pauses *every* call of this Spotify app, on
//! every replica ([`Pauses`]), counts as one of the call's
//! [`ATTEMPTS`], and is waited out in the call when the pause is short;
//! longer pauses are answered as [`SpotifyError::RateLimited`] (a job
//! reschedules, a request answers `RATE_LIMITED`). Every Web API call
//! first spends from the app's [`Budgets`] at its [`Priority`]; a call the
//! budget refuses is not made ([`SpotifyError::OverBudget`]). Calls to the
//! token endpoint are not counted: they go to the accounts service, not the
//! Web API whose rate limit and quota Spotify counts. A refusal by the token
//! endpoint of the app's own credentials, or its outage, is the
//! operator's problem: one log line names the cause, and callers answer
//! `UPSTREAM_UNAVAILABLE`, never that the person's input was wrong. Calls
//! are counted by endpoint and outcome on `/metrics`. Answers are read as
//! [`answers`](super::answers) describes.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

pub use super::answers::{ApiTrack, TokenGrant};
use super::{
    answers::{self, CurrentlyPlaying, CurrentlyPlayingBody, ErrorBody, PlayHistory, Profile, RecentlyPlayedPage},
    budget::{Budgets, Priority, Verdict},
    links::TrackId,
    pause::{self, Pause, Pauses},
};
use crate::telemetry::OnceTold;
use entity::spotify_clients::PauseReason;

/// Tries of one call: 5xx, network trouble and 429s each use one.
pub const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// A caller waits at most this long for a pause inside the call; longer
/// pauses are reported to it instead.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to Spotify, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum SpotifyError {
    /// 401: the access token is expired or revoked; refresh and retry once.
    #[error("spotify rejected the access token")]
    Unauthorized,
    /// `invalid_grant` on a person's refresh token or authorization code.
    #[error("spotify refused the grant: {0}")]
    InvalidGrant(String),
    /// Spotify paused this app's calls for this long from now (a 429).
    #[error("spotify asked us to wait {0:?}")]
    RateLimited(Duration),
    /// The app's budget has no room for a call of this priority for this
    /// long: no call was made.
    #[error("the spotify budget allows this call in {0:?}")]
    OverBudget(Duration),
    /// The Web API refused the request (4xx other than 401 and 429): the
    /// status and what its body says.
    #[error("spotify answered {status}: {}", .body.message)]
    Rejected { status: u16, body: ErrorBody },
    /// The token endpoint refused the app's own credentials or our request
    /// (`invalid_client`, a wrong redirect URI, …): the operator must act.
    /// Already logged.
    #[error("spotify refused this server's credentials: {0}")]
    Credentials(String),
    /// The token endpoint is down. Already logged.
    #[error("spotify's accounts service is unavailable: {0}")]
    AccountsUnavailable(String),
    /// 5xx, timeouts and network errors that outlived the retries.
    #[error("spotify is unavailable: {0}")]
    Unavailable(String),
    /// A body we could not read.
    #[error("unexpected answer from spotify: {0}")]
    Unexpected(String),
}

/// The grants of the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl Grant {
    fn endpoint(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "token:authorization_code",
            Self::RefreshToken => "token:refresh_token",
            Self::ClientCredentials => "token:client_credentials",
        }
    }
}

pub struct SpotifyClient {
    http: reqwest::Client,
    /// Base of `/api/token` (server to server).
    accounts_url: String,
    /// Base of `/v1/…`.
    api_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    /// Until when every call of this app waits, on every replica.
    pauses: Pauses,
    /// What every Web API call spends first, per app (shared by the
    /// host's client and people's own).
    budgets: Arc<Budgets>,
    /// The app's own token (client credentials) for catalogue reads, with
    /// its expiry; the lock makes concurrent callers share one fetch.
    app_token: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// What the operator was last told about the token endpoint.
    told: OnceTold,
}

impl SpotifyClient {
    pub fn new(
        accounts_url: String,
        api_url: String,
        client_id: String,
        client_secret: Option<SecretString>,
        pauses: Pauses,
        budgets: Budgets,
    ) -> Self {
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
            pauses,
            budgets: Arc::new(budgets),
            app_token: tokio::sync::Mutex::new(None),
            told: OnceTold::default(),
        }
    }

    /// The client of a person's own Spotify app: a public PKCE client
    /// (`client_id`, no secret) at the same endpoints, with its own pause
    /// and budget (its `spotify_clients` row). It has no app token:
    /// catalogue lookups stay with the host's client.
    pub fn public_client(&self, client_id: &str) -> Self {
        Self {
            http: self.http.clone(),
            accounts_url: self.accounts_url.clone(),
            api_url: self.api_url.clone(),
            client_id: client_id.to_owned(),
            client_secret: None,
            pauses: self.pauses.for_client(client_id.to_owned()),
            budgets: self.budgets.clone(),
            app_token: tokio::sync::Mutex::new(None),
            told: OnceTold::default(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether this app's daily budget is too full for live checks (as
    /// this process last saw it): checks that can wait should wait longer.
    pub fn tight(&self) -> bool {
        self.budgets.tight(&self.client_id)
    }

    /// The pause in force now, if any (`None` too when it cannot be read).
    pub async fn pause(&self) -> Option<Pause> {
        self.pauses.current().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "reading the spotify pause failed");
            None
        })
    }

    /// The latest pause, over or not.
    ///
    /// # Errors
    /// The database's.
    pub async fn latest_pause(&self) -> Result<Option<Pause>, sea_orm::DbErr> {
        self.pauses.latest().await
    }

    /// How long a 429 with this `Retry-After` pauses this app's calls
    /// (`quota`: its body gave the reason `QUOTA_EXCEEDED`), as
    /// [`Pauses::wait_for`] reads it.
    pub fn pause_after(&self, retry_after: Option<&str>, quota: bool) -> Duration {
        self.pauses.wait_for(retry_after, quota)
    }

    /// Ends the pause in force (the sandbox's reset: never against the
    /// real Spotify); answers whether there was one.
    ///
    /// # Errors
    /// The database's.
    pub async fn lift_pause(&self) -> Result<bool, sea_orm::DbErr> {
        self.pauses.lift().await
    }

    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant, SpotifyError> {
        self.token_request(
            Grant::AuthorizationCode,
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
            Grant::RefreshToken,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await
    }

    /// The person's profile; spent as [`Priority::Receipts`]: it is read
    /// while they link, once.
    #[tracing::instrument(skip_all)]
    pub async fn me(&self, access_token: &str) -> Result<Profile, SpotifyError> {
        let url = format!("{}/v1/me", self.api_url);
        let response = self
            .web_api("me", Priority::Receipts, || {
                self.http.get(&url).bearer_auth(access_token)
            })
            .await?;
        read_json(response).await
    }

    /// Track metadata, read with the app's own token.
    #[tracing::instrument(skip(self), fields(track = %id))]
    pub async fn track(&self, id: &TrackId, priority: Priority) -> Result<ApiTrack, SpotifyError> {
        let url = format!("{}/v1/tracks/{}", self.api_url, id);
        for attempt in 0..2 {
            let token = self.app_token(attempt > 0).await?;
            match self
                .web_api("tracks", priority, || self.http.get(&url).bearer_auth(&token))
                .await
            {
                Err(SpotifyError::Unauthorized) if attempt == 0 => continue,
                Err(err) => return Err(err),
                Ok(response) => return read_json(response).await,
            }
        }
        Err(SpotifyError::Unauthorized)
    }

    /// Plays after `after` (exclusive), newest first, at most 50; items of
    /// any kind (local files, unreadable items are skipped).
    #[tracing::instrument(skip(self, access_token))]
    pub async fn recently_played(
        &self,
        access_token: &str,
        after: Option<DateTime<Utc>>,
        limit: u8,
        priority: Priority,
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
            .web_api("recently-played", priority, || {
                self.http.get(&url).bearer_auth(access_token)
            })
            .await?;
        Ok(read_json::<RecentlyPlayedPage>(response).await?.plays())
    }

    /// What is playing now; `None` when nothing is (204, or 404 for no
    /// active device) or when Spotify closes the player to this account
    /// (403 with the reason `PREMIUM_REQUIRED`, which Spotify gives for
    /// player endpoints; the listening history stays open).
    #[tracing::instrument(skip_all)]
    pub async fn currently_playing(
        &self,
        access_token: &str,
        priority: Priority,
    ) -> Result<Option<CurrentlyPlaying>, SpotifyError> {
        let url = format!("{}/v1/me/player/currently-playing", self.api_url);
        let response = self
            .web_api("currently-playing", priority, || {
                self.http.get(&url).bearer_auth(access_token)
            })
            .await;
        let response = match response {
            Err(SpotifyError::Rejected { status: 404, .. }) => return Ok(None),
            Err(SpotifyError::Rejected { status: 403, body }) if body.code.as_deref() == Some("PREMIUM_REQUIRED") => {
                return Ok(None);
            }
            other => other?,
        };
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = body(response).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None); // "a 204 NO CONTENT with an empty payload", sometimes as 200
        }
        let playing: CurrentlyPlayingBody =
            answers::json(&bytes).map_err(|e| SpotifyError::Unexpected(format!("unreadable body: {e}")))?;
        Ok(Some(playing.read()))
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
            .token_request(Grant::ClientCredentials, &[("grant_type", "client_credentials")])
            .await?;
        let lifetime = Duration::from_secs(grant.expires_in.max(60) as u64 - 30);
        *cached = Some((grant.access_token.clone(), Instant::now() + lifetime));
        Ok(grant.access_token)
    }

    async fn token_request(&self, grant: Grant, form: &[(&str, &str)]) -> Result<TokenGrant, SpotifyError> {
        let url = format!("{}/api/token", self.accounts_url);
        let response = self
            .send(grant.endpoint(), None, || {
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
        let response = match response {
            Ok(response) => response,
            Err(SpotifyError::Unavailable(reason)) => {
                if self.told.news(&format!("outage: {reason}")) {
                    tracing::error!(
                        grant = grant.endpoint(),
                        reason,
                        "spotify's token endpoint is failing (an outage at Spotify): people are told to try again"
                    );
                }
                return Err(SpotifyError::AccountsUnavailable(reason));
            }
            Err(err) => return Err(err),
        };
        let status = response.status();
        if status.is_success() {
            let grant_read = read_json(response).await.map_err(|err| {
                tracing::error!(grant = grant.endpoint(), error = %err, "spotify's token endpoint answered unreadably");
                SpotifyError::AccountsUnavailable(err.to_string())
            });
            if grant_read.is_ok() {
                self.told.answered();
            }
            return grant_read;
        }
        let text = response.text().await.unwrap_or_default();
        let refusal = token_refusal(grant, status.as_u16(), &ErrorBody::parse(&text));
        if let Refusal::Operators { cause, hint } = &refusal
            && self.told.news(cause)
        {
            tracing::error!(
                grant = grant.endpoint(),
                cause,
                "spotify's token endpoint refused this server: {hint}"
            );
        }
        Err(refusal.into())
    }

    /// A Web API call spent at `priority`: [`send`](Self::send), then 401
    /// and other 4xx as errors.
    async fn web_api(
        &self,
        endpoint: &'static str,
        priority: Priority,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SpotifyError> {
        let response = self.send(endpoint, Some(priority), build).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SpotifyError::Unauthorized);
        }
        let text = response.text().await.unwrap_or_default();
        Err(SpotifyError::Rejected {
            status: status.as_u16(),
            body: ErrorBody::parse(&text),
        })
    }

    /// Sends with the shared pause, the budget (each try of a Web API
    /// call spends one call at `priority`), retries and metrics. Answers
    /// any response but a 429 or a 5xx.
    async fn send(
        &self,
        endpoint: &'static str,
        priority: Option<Priority>,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SpotifyError> {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            self.wait_out_pause().await?;
            if let Some(priority) = priority {
                self.spend(endpoint, priority).await?;
            }
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
            let failure = match result {
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    let pause = self.pause_for(endpoint, response).await;
                    let remaining = (pause.until - self.pauses.now()).to_std().unwrap_or_default();
                    if pause.reason == PauseReason::Quota || attempt == ATTEMPTS || remaining > MAX_WAIT {
                        return Err(SpotifyError::RateLimited(remaining + pause::jitter(remaining)));
                    }
                    continue; // the next try waits the pause out first
                }
                Ok(response) if response.status().is_server_error() => response.status().to_string(),
                Ok(response) => return Ok(response),
                Err(err) if err.is_timeout() => "timed out".to_owned(),
                Err(err) => format!("network error: {}", without_url(&err)),
            };
            if attempt == ATTEMPTS {
                return Err(SpotifyError::Unavailable(failure));
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        unreachable!("the last attempt returns")
    }

    /// Spends one call of this app's budget, or answers `OverBudget`.
    async fn spend(&self, endpoint: &'static str, priority: Priority) -> Result<(), SpotifyError> {
        match self.budgets.spend(&self.client_id, priority).await {
            Ok(Verdict::Go) => Ok(()),
            Ok(Verdict::Wait(wait)) => {
                tracing::debug!(
                    endpoint,
                    ?priority,
                    wait_ms = wait.as_millis(),
                    "spotify budget: not now"
                );
                Err(SpotifyError::OverBudget(wait))
            }
            Err(err) => {
                tracing::warn!(error = %err, "counting the spotify budget failed");
                Err(SpotifyError::Unavailable("the call budget could not be counted".into()))
            }
        }
    }

    /// Waits until the pause in force is over (plus a little jitter), or
    /// answers `RateLimited` when it is longer than a caller should wait.
    async fn wait_out_pause(&self) -> Result<(), SpotifyError> {
        let Some(pause) = self.pause().await else {
            return Ok(());
        };
        let remaining = (pause.until - self.pauses.now()).to_std().unwrap_or_default();
        let wait = remaining + pause::jitter(remaining);
        if remaining > MAX_WAIT {
            return Err(SpotifyError::RateLimited(wait));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Orders the pause a 429 asks for; tells the operator once when the
    /// app's quota ran out.
    async fn pause_for(&self, endpoint: &'static str, response: reqwest::Response) -> Pause {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let quota = ErrorBody::parse(&text).code.as_deref() == Some("QUOTA_EXCEEDED");
        let wait = self.pauses.wait_for(retry_after.as_deref(), quota);
        let reason = if quota {
            PauseReason::Quota
        } else {
            PauseReason::RateLimit
        };
        match self.pauses.order(wait, reason).await {
            Ok((pause, began_quota)) => {
                if began_quota {
                    metrics::counter!("spotify_quota_exceeded_total").increment(1);
                    tracing::error!(
                        client_id = %self.client_id,
                        resume_at = %pause.until,
                        "spotify's daily quota for this app is used up (429 QUOTA_EXCEEDED): every spotify call \
                         waits until resume_at; ask Spotify for extended quota mode to lift it"
                    );
                } else {
                    tracing::warn!(
                        endpoint,
                        wait_secs = wait.as_secs_f64(),
                        "spotify rate limit: pausing all calls"
                    );
                }
                pause
            }
            Err(err) => {
                tracing::warn!(error = %err, "storing the spotify pause failed: pausing this call only");
                let now = self.pauses.now();
                Pause {
                    since: now,
                    until: now + chrono::TimeDelta::from_std(wait).unwrap_or_default(),
                    reason,
                }
            }
        }
    }
}

/// What a refusal of the token endpoint means: only `invalid_grant` on a
/// person's grant (not about the redirect URI) is the person's; anything
/// else is the operator's, told once per cause ([`OnceTold`]).
#[derive(Debug)]
enum Refusal {
    /// The person's grant is refused (`InvalidGrant`).
    Persons(String),
    /// This server's request or credentials are refused: the cause, and
    /// what the operator should check.
    Operators { cause: String, hint: &'static str },
}

impl From<Refusal> for SpotifyError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Persons(message) => Self::InvalidGrant(message),
            Refusal::Operators { cause, .. } => Self::Credentials(cause),
        }
    }
}

fn token_refusal(grant: Grant, status: u16, body: &ErrorBody) -> Refusal {
    let code = body.code.as_deref().unwrap_or("no error code");
    let cause = if body.message.is_empty() {
        format!("{status} {code}")
    } else {
        format!("{status} {code}: {}", body.message)
    };
    let persons = grant != Grant::ClientCredentials
        && code == "invalid_grant"
        && !body.message.to_ascii_lowercase().contains("redirect");
    if persons {
        return Refusal::Persons(if body.message.is_empty() {
            code.to_owned()
        } else {
            body.message.clone()
        });
    }
    let hint = match code {
        "invalid_client" | "unauthorized_client" => "check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET",
        "invalid_grant" => "check PUBLIC_URL: the redirect URI must be registered for the Spotify app",
        _ => "this server's request was refused",
    };
    Refusal::Operators { cause, hint }
}

async fn body(response: reqwest::Response) -> Result<Vec<u8>, SpotifyError> {
    response
        .bytes()
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|e| SpotifyError::Unavailable(format!("reading the body: {}", without_url(&e))))
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, SpotifyError> {
    let bytes = body(response).await?;
    answers::json(&bytes).map_err(|e| SpotifyError::Unexpected(format!("unreadable body: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_grant_on_a_persons_grant_is_the_persons() {
        let body = |code: &str, message: &str| ErrorBody {
            code: Some(code.into()),
            message: message.into(),
        };
        assert!(matches!(
            token_refusal(
                Grant::RefreshToken,
                400,
                &body("invalid_grant", "Refresh token revoked")
            ),
            Refusal::Persons(_)
        ));
        for (grant, refusal) in [
            (
                Grant::ClientCredentials,
                body("invalid_client", "Invalid client secret"),
            ),
            (Grant::ClientCredentials, body("invalid_grant", "")),
            (Grant::RefreshToken, body("invalid_client", "")),
            (Grant::AuthorizationCode, body("invalid_grant", "Invalid redirect URI")),
            (Grant::AuthorizationCode, ErrorBody::parse("<html>503</html>")),
        ] {
            assert!(
                matches!(token_refusal(grant, 400, &refusal), Refusal::Operators { .. }),
                "{grant:?} {refusal:?}"
            );
        }
    }
}
