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
    sync::{Arc, Mutex, MutexGuard, PoisonError},
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
        })
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
        .route("/faults", post(faults::queue))
        .with_state(sandbox)
}

/// Body of `POST /play`.
#[derive(Deserialize)]
struct PlayRequest {
    /// Spotify account ID (the user id, or the `account_id` `/v1/me`
    /// gives); created if unknown.
    account: String,
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
    /// RFC 3339; now when absent.
    played_at: Option<String>,
    /// How far into the track playback is now, in milliseconds: the play
    /// started that long ago (instead of `played_at`).
    #[serde(rename = "progressMs")]
    progress_ms: Option<i64>,
}

/// `POST /play`: records that `account` started playing `track`.
async fn play(AxumState(sandbox): AxumState<Arc<SpotifySandbox>>, Body(request): Body<PlayRequest>) -> Response {
    if request.account.trim().is_empty() {
        return play_error(StatusCode::BAD_REQUEST, "account must not be empty".into());
    }
    let item = match (request.kind.as_deref(), request.track.as_deref()) {
        (Some("episode"), _) => items::Played::Episode,
        (Some("ad"), _) => items::Played::Ad,
        (Some("unknown"), _) => items::Played::Unknown,
        (Some("missing"), _) => items::Played::Missing,
        (Some(other), _) => {
            return play_error(
                StatusCode::BAD_REQUEST,
                format!("kind `{other}`: episode, ad, unknown or missing"),
            );
        }
        (None, None) => return play_error(StatusCode::BAD_REQUEST, "track (or kind) is required".into()),
        (None, Some(local)) if local.trim().starts_with("spotify:local:") => match items::LocalFile::parse(local) {
            Some(file) => items::Played::Local(file),
            None => {
                return play_error(
                    StatusCode::BAD_REQUEST,
                    "a local file is spotify:local:{artist}:{album}:{title}:{seconds}".into(),
                );
            }
        },
        (None, Some(track)) => match links::parse(track) {
            Ok(Parsed::Track(id)) => items::Played::Track(id),
            // Following a short link needs the network; the sandbox stays offline.
            Ok(Parsed::ShortLink(_)) => {
                return play_error(
                    StatusCode::BAD_REQUEST,
                    "short links are not resolved here: paste the full track link".into(),
                );
            }
            Err(e) => return play_error(StatusCode::BAD_REQUEST, e.to_string()),
        },
    };
    let played_at = match (request.played_at.as_deref(), request.progress_ms) {
        (Some(_), Some(_)) => {
            return play_error(
                StatusCode::BAD_REQUEST,
                "give played_at (when it started) or progressMs (how far in it is now), not both".into(),
            );
        }
        (None, Some(progress)) if progress < 0 => {
            return play_error(StatusCode::BAD_REQUEST, "progressMs must be 0 or more".into());
        }
        (None, Some(progress)) => sandbox.now() - chrono::TimeDelta::milliseconds(progress),
        (None, None) => sandbox.now(),
        (Some(at), None) => match DateTime::parse_from_rfc3339(at) {
            Ok(at) => at.with_timezone(&Utc),
            Err(_) => return play_error(StatusCode::BAD_REQUEST, "played_at must be an RFC 3339 time".into()),
        },
    };
    let account = sandbox.account_named(&request.account);
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

fn play_error(status: StatusCode, message: String) -> Response {
    control::error(status, message)
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
