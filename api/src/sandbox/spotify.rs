//! A wire-compatible, in-memory Spotify: the Accounts service (authorize and
//! token) and the few Web API endpoints the server calls. Its tokens are
//! signed rather than remembered ([`tokens`]), so with the same key they
//! work across restarts; accounts and plays are in memory.
//!
//! The production client talks to it over HTTP exactly as to Spotify, so it
//! answers with Spotify's status codes, JSON bodies and headers. Sandbox mode
//! nests [`router`] under `/sandbox/spotify`; integration tests serve it on a
//! port of their own. Routes, relative to the mount point:
//!
//! - `GET /accounts/authorize`, `POST /accounts/api/token`: stand-ins for
//!   `https://accounts.spotify.com/authorize` and `/api/token` ([`accounts`]).
//! - `GET /api/v1/...`: stand-ins for `https://api.spotify.com/v1/...` ([`web_api`]).
//! - `POST /play`: the sandbox's own control, recording that an account
//!   played a track (Spotify's equivalent is someone pressing play): a
//!   track in any link form, a local file (`spotify:local:…`), or
//!   `"kind"`: `"episode"`, `"ad"`, `"unknown"` or `"missing"` (a track
//!   Spotify leaves out: `item` null, and `track` null in recently-played)
//!   ([`items`]); now, or `progressMs` ago:
//!   currently-playing then shows it that far in, and the whole ladder
//!   (listening, then played 30 seconds in) can be shown.
//! - `POST /faults`: the sandbox's own control, making the next requests
//!   fail as Spotify fails: rate limits, the daily quota, the Development
//!   Mode allowlist, refusals and outages of the token endpoint
//!   ([`faults`]).
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError},
};

use axum::{
    Json, Router,
    extract::State as AxumState,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest as _;

use crate::{
    clock::Clock,
    sandbox::control::{self, Body},
    spotify::links::{self, Parsed, TrackId},
};

mod accounts;
mod catalog;
mod faults;
mod items;
mod tokens;
mod web_api;

#[cfg(test)]
mod tests;

/// Spotify's recently-played horizon: only this many most recent plays exist.
const PLAY_HISTORY: usize = 50;

/// The fake Spotify. Cheap to share: every method takes `&self`.
pub struct SpotifySandbox {
    /// Signs the access and refresh tokens it issues, and reads them back.
    tokens: tokens::Tokens,
    /// Everything the fake remembers. One lock for all of it, held only for
    /// short synchronous sections (never across an await), so handlers see
    /// one consistent state.
    state: Mutex<State>,
    /// The source of "now" for code and token expiry and for "currently
    /// playing", so tests can move time instead of sleeping.
    clock: Arc<dyn Clock>,
    /// The app this stand-in serves in sandbox mode ([`serve`](Self::serve)):
    /// its controls say how long the app pauses after a 429, lift that
    /// pause, and know the accounts linked there. Unset when tests serve
    /// the stand-in on a port of its own.
    app: OnceLock<Arc<crate::spotify::Spotify>>,
}

/// The in-memory contents of the fake Spotify.
#[derive(Default)]
struct State {
    /// Spotify accounts by user ID: who can sign in and what they played.
    accounts: HashMap<String, Account>,
    /// Authorization codes handed out by `/authorize` and not yet redeemed;
    /// removed when redeemed, because codes are single use.
    codes: HashMap<String, AuthCode>,
    /// Web API requests answered, by path template, for [`SpotifySandbox::calls`].
    calls: HashMap<&'static str, usize>,
    /// Failures queued by `POST /faults`, each with the times it is left.
    faults: Vec<(faults::Fault, usize)>,
}

/// A Spotify user.
struct Account {
    /// What `/v1/me` calls them.
    display_name: String,
    /// Their plays, oldest first, at most [`PLAY_HISTORY`]: older plays fall
    /// off, as they do from Spotify's recently-played.
    plays: VecDeque<Play>,
}

/// One play of one track (or local file, episode or ad).
#[derive(Clone)]
struct Play {
    item: items::Played,
    /// When it started, truncated to milliseconds: cursors are in
    /// milliseconds, so finer times would make `after=<cursor>` return the
    /// play the cursor came from.
    played_at: DateTime<Utc>,
}

/// What `/authorize` approved, waiting for the client to redeem the code.
struct AuthCode {
    /// The client the code was issued to; no other client may redeem it.
    client_id: String,
    /// Must be repeated, identical, when the code is redeemed.
    redirect_uri: String,
    /// The PKCE challenge, when the client sent one: redeeming then needs the verifier.
    code_challenge: Option<String>,
    /// The Spotify account that approved.
    account: String,
    /// The scopes granted, space-separated, echoed in the token response.
    scope: String,
    /// Codes live ten minutes.
    expires_at: DateTime<Utc>,
}

/// Whom an access token speaks for.
#[derive(Clone)]
enum Subject {
    /// A user, by account ID (authorization code and refresh grants).
    User(String),
    /// The app itself (client credentials): catalogue only, no `/v1/me`.
    App,
}

impl SpotifySandbox {
    /// A fake whose tokens are signed with a key of its own (they last as
    /// long as it does).
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Self::with_key(clock, &rand::random())
    }

    /// A fake whose tokens are signed with `key`: another fake with the same
    /// key (the same server, restarted) accepts them.
    pub fn with_key(clock: Arc<dyn Clock>, key: &[u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            tokens: tokens::Tokens::new(key),
            state: Mutex::new(State::default()),
            clock,
            app: OnceLock::new(),
        })
    }

    /// Serves `app` (sandbox mode): see the `app` field.
    pub fn serve(&self, app: Arc<crate::spotify::Spotify>) {
        let _ = self.app.set(app);
    }

    /// Records a play (used by `POST /play`, and callable from Rust tests),
    /// creating the account if it is new.
    pub fn record_play(&self, account: &str, track: &TrackId, played_at: DateTime<Utc>) {
        self.record(account, items::Played::Track(track.clone()), played_at);
    }

    fn record(&self, account: &str, item: items::Played, played_at: DateTime<Utc>) {
        let played_at = DateTime::from_timestamp_millis(played_at.timestamp_millis()).unwrap_or(played_at);
        let play = Play { item, played_at };
        let mut state = self.lock();
        let plays = &mut state.account(account).plays;
        // Keep the history sorted even when tests record out of order; equal
        // times keep the order they were recorded in.
        let at = plays.partition_point(|p| p.played_at <= played_at);
        plays.insert(at, play);
        while plays.len() > PLAY_HISTORY {
            plays.pop_front();
        }
    }

    /// How many Web API requests (`/v1/...`) it has answered, by path
    /// template such as `"/v1/me/player/recently-played"` or
    /// `"/v1/tracks/{id}"`, rejected ones included; for tests that count
    /// upstream calls.
    pub fn calls(&self, endpoint: &str) -> usize {
        self.lock().calls.get(endpoint).copied().unwrap_or(0)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The user id of the account named by its user id or its
    /// `account_id`.
    fn account_named(&self, name: &str) -> String {
        let state = self.lock();
        state
            .accounts
            .keys()
            .find(|id| account_id(id) == name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// The user id of the account named by its user id or its
    /// `account_id`, if it signed in here, or (a server restarted since)
    /// is linked in the app this stand-in serves.
    async fn known_account(&self, name: &str) -> Result<Option<String>, sea_orm::DbErr> {
        let id = self.account_named(name);
        if self.lock().accounts.contains_key(&id) {
            return Ok(Some(id));
        }
        match self.app.get() {
            Some(app) if app.is_linked(name).await? => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the maps usable:
        // keep serving rather than failing every later request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The account with this ID, created on first use with the ID, first
    /// letter upper-cased, as its display name.
    fn account(&mut self, id: &str) -> &mut Account {
        self.accounts.entry(id.to_owned()).or_insert_with(|| Account {
            display_name: capitalized(id),
            plays: VecDeque::new(),
        })
    }
}

/// Routes relative to the mount point (the server nests this under `/sandbox/spotify`).
pub fn router(sandbox: Arc<SpotifySandbox>) -> Router {
    Router::new()
        .route("/accounts/authorize", get(accounts::authorize))
        .route("/accounts/api/token", post(accounts::token))
        .route("/api/v1/me", get(web_api::me))
        .route("/api/v1/tracks/{id}", get(web_api::track))
        .route("/api/v1/me/player/recently-played", get(web_api::recently_played))
        .route("/api/v1/me/player/currently-playing", get(web_api::currently_playing))
        .route("/play", post(play))
        .route("/faults", post(faults::queue).get(faults::list).delete(faults::clear))
        .with_state(sandbox)
}

/// Body of `POST /play`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayRequest {
    /// Spotify account ID (the user id, or the `account_id` `/v1/me`
    /// gives); required.
    #[serde(default)]
    account: Option<String>,
    /// Any form [`links::parse`] accepts, except short links; or a local
    /// file's `spotify:local:{artist}:{album}:{title}:{seconds}`.
    #[serde(default)]
    track: Option<String>,
    /// Instead of a track: `episode` or `ad` (`item` null while it plays),
    /// `unknown` (`currently_playing_type` `unknown`), or `missing` (a
    /// track Spotify leaves out: `item` null while it plays, `track` null
    /// in recently-played).
    #[serde(default)]
    kind: Option<String>,
    /// RFC 3339, not in the future; now when absent. Also spelled
    /// `playedAt` ([`played_at`](Self::played_at) says which was given).
    #[serde(default, rename = "played_at")]
    played_at_snake: Option<String>,
    #[serde(default, rename = "playedAt")]
    played_at_camel: Option<String>,
    /// How far into the track playback is now, in milliseconds (0 to
    /// [`MAX_PROGRESS_MS`]): the play started that long ago (instead of
    /// `played_at`).
    #[serde(rename = "progressMs", default)]
    progress_ms: Option<serde_json::Value>,
}

impl PlayRequest {
    /// When the play started, with the key it was given as (`playedAt`
    /// when absent; [`Body`] refuses both spellings at once).
    fn played_at(&self) -> (&'static str, Option<&str>) {
        match (&self.played_at_snake, &self.played_at_camel) {
            (Some(at), _) => ("played_at", Some(at.as_str())),
            (None, at) => ("playedAt", at.as_deref()),
        }
    }
}

/// The furthest into a play `progressMs` may be: a day, longer than any
/// track.
const MAX_PROGRESS_MS: i64 = 24 * 3600 * 1000;

/// `POST /play`: records that `account` (one that connected: else 404)
/// started playing `track`.
async fn play(AxumState(sandbox): AxumState<Arc<SpotifySandbox>>, Body(request): Body<PlayRequest>) -> Response {
    let given = match request.account.as_deref() {
        Some(account) if account.trim().is_empty() => return control::invalid("account", "must not be empty"),
        Some(account) => account,
        None => {
            return control::invalid(
                "account",
                "required: the Spotify account ID of an account that connected",
            );
        }
    };
    let progress_ms = match control::whole("progressMs", request.progress_ms.as_ref(), 0..=MAX_PROGRESS_MS) {
        Ok(progress) => progress,
        Err(refusal) => return refusal,
    };
    if request.kind.is_some() && request.track.is_some() {
        return control::invalid("kind", "give a track or a kind, not both");
    }
    let item = match (request.kind.as_deref(), request.track.as_deref()) {
        (Some("episode"), _) => items::Played::Episode,
        (Some("ad"), _) => items::Played::Ad,
        (Some("unknown"), _) => items::Played::Unknown,
        (Some("missing"), _) => items::Played::Missing,
        (Some(other), _) => {
            return control::invalid("kind", format!("episode, ad, unknown or missing (not `{other}`)"));
        }
        (None, None) => return control::invalid("track", "required (or a kind)"),
        (None, Some(local)) if local.trim().starts_with("spotify:local:") => match items::LocalFile::parse(local) {
            Some(file) => items::Played::Local(file),
            None => {
                return control::invalid(
                    "track",
                    "a local file is spotify:local:{artist}:{album}:{title}:{seconds}",
                );
            }
        },
        (None, Some(track)) => match links::parse(track) {
            Ok(Parsed::Track(id)) => items::Played::Track(id),
            // Following a short link needs the network; the sandbox stays offline.
            Ok(Parsed::ShortLink(_)) => {
                return control::invalid("track", "short links are not resolved here: paste the full track link");
            }
            Err(e) => return control::invalid("track", e),
        },
    };
    let now = sandbox.now();
    let (played_key, given_at) = request.played_at();
    let played_at = match (given_at, progress_ms) {
        (Some(_), Some(_)) => {
            return control::invalid(
                played_key,
                format!("give {played_key} (when it started) or progressMs (how far in it is now), not both"),
            );
        }
        (None, Some(progress)) => now - chrono::TimeDelta::milliseconds(progress),
        (None, None) => now,
        (Some(at), None) => match DateTime::parse_from_rfc3339(at) {
            Ok(at) if at.with_timezone(&Utc) <= now => at.with_timezone(&Utc),
            Ok(_) => return control::invalid(played_key, "not in the future"),
            Err(_) => {
                return control::invalid(played_key, "an RFC 3339 time, such as 2026-11-30T18:05:00Z");
            }
        },
    };
    let account = match sandbox.known_account(given).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return control::error(
                StatusCode::NOT_FOUND,
                format!(
                    "account: no Spotify account `{}` has connected here. Connect one first \
                     (GraphQL `mutation {{ connectSpotify {{ url }} }}`, or send `connect` to the bot, \
                     and open the link: the sandbox Spotify approves at once), then play with the id \
                     `{{ me {{ spotify {{ accountId }} }} }}` shows",
                    given
                ),
            );
        }
        Err(err) => return control::error(StatusCode::SERVICE_UNAVAILABLE, format!("account: {err}")),
    };
    let track = match &item {
        items::Played::Track(id) => json!(id.as_str()),
        _ => json!(request.track.as_deref().or(request.kind.as_deref())),
    };
    sandbox.record(&account, item, played_at);
    let body = json!({
        "account": account,
        "track": track,
        "playedAt": spotify_time(played_at),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// A time as Spotify writes it: RFC 3339, milliseconds, `Z`.
fn spotify_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An unguessable token (codes, access and refresh tokens): 32 random bytes, base64url.
fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The `account_id` `/v1/me` gives an account: opaque and immutable, ten
/// base-62 characters derived from the user id (Spotify's example has this
/// form; the real format is not documented).
fn account_id(user_id: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    sha2::Sha256::digest(format!("account:{user_id}").as_bytes())
        .iter()
        .take(10)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn capitalized(id: &str) -> String {
    let mut chars = id.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
