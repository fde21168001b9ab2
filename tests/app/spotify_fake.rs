//! A scripted Spotify: known token values, refresh rotation,
//! `invalid_grant`, and 429s with `Retry-After`, answered with Spotify's
//! documented status codes and bodies. Any route can be told to answer a
//! fixture of `tests/fixtures/spotify/` instead ([`Script::answer`],
//! [`Script::always`]). And one listener whose plays the test scripts on
//! the app's moved clock: currently-playing with its progress, a
//! recently-played that lists a play only once it counted (30 s, or a
//! shorter track played through) and then only after a lag (Spotify's,
//! often minutes), that keeps only the 50 newest plays (a heavy listener's
//! older plays fall off), and catalogue tracks taken from the fixtures
//! (relinked ones, with ISRCs). Records every request.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use api::clock::{Clock as _, ManualClock};
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::fixtures::Canned;

#[derive(Default)]
pub struct Script {
    /// Refresh grants fail with `invalid_grant`.
    pub refresh_fails: bool,
    /// Answer this many Web API calls with 429 `Retry-After: 2`.
    pub rate_limit_next: usize,
    /// The Web API answers 503 to everything (an outage).
    pub api_down: bool,
    /// Answer this many calls with 401, whatever the token (a revocation).
    pub reject_next: usize,
    /// Tokens issued so far (A1/R1 at the code exchange, then A2/R2…).
    pub issued: usize,
    /// Every request: path, form or query, arrival.
    pub requests: Vec<(String, String, Instant)>,
    /// Canned answers by route (`/v1/me`, `/api/token:refresh_token`, …):
    /// the first one with tries left is sent (`None`: forever).
    canned: Vec<(String, Canned, Option<usize>)>,
    /// "Now" for the listener: the app's clock (the wall clock if unset).
    pub clock: Option<Arc<ManualClock>>,
    /// What the listener played, oldest first ([`Script::play`]).
    pub plays: Vec<Play>,
    /// How long after a play counted recently-played lists it.
    pub lag: TimeDelta,
    /// Tracks `/v1/tracks/{id}` answers with, by the id asked for (others:
    /// a made-up "Scripted Song").
    pub catalog: HashMap<String, Value>,
    /// The ids `/v1/tracks/{id}` was asked for, in order.
    pub tracks_asked: Vec<String>,
    /// People's own apps registered at this Spotify: public clients,
    /// which authenticate with `client_id` in the token form (no secret)
    /// and PKCE. The host's app (`test-client`) authenticates with HTTP
    /// Basic; any other client id is `INVALID_CLIENT`.
    pub public_apps: Vec<String>,
    /// The app the latest code and its refresh tokens were issued to:
    /// Spotify honours a code or refresh token only for its own client.
    pub granted_to: Option<String>,
    /// Whether the latest code came with a PKCE challenge.
    pub code_has_challenge: bool,
}

/// The host app's client id in tests (`SPOTIFY_CLIENT_ID`).
pub const HOST_CLIENT: &str = "test-client";

/// One play: a track object as Spotify sends it, and when it started.
#[derive(Clone, Debug)]
pub struct Play {
    pub track: Value,
    pub started_at: DateTime<Utc>,
}

/// Spotify lists a play once this much of it played (or all of a shorter track).
const COUNTS_AFTER: TimeDelta = TimeDelta::seconds(30);
/// Plays recently-played keeps.
const HISTORY: usize = 50;

impl Script {
    /// `route` answers `canned` for its next `times` requests.
    pub fn answer(&mut self, route: &str, canned: Canned, times: usize) {
        self.canned.push((route.to_owned(), canned, Some(times)));
    }

    /// `route` answers `canned` from now on (replacing what it answered).
    pub fn always(&mut self, route: &str, canned: Canned) {
        self.canned.retain(|(r, _, _)| r != route);
        self.canned.push((route.to_owned(), canned, None));
    }

    /// `route` answers as the fake does by itself again.
    pub fn normal(&mut self, route: &str) {
        self.canned.retain(|(r, _, _)| r != route);
    }

    /// How many requests reached `route` (a path as recorded).
    pub fn count(&self, path: &str) -> usize {
        self.requests.iter().filter(|(p, _, _)| p == path).count()
    }

    fn take(&mut self, route: &str) -> Option<Canned> {
        let (_, canned, left) = self
            .canned
            .iter_mut()
            .find(|(r, _, left)| r == route && *left != Some(0))?;
        if let Some(left) = left {
            *left -= 1;
        }
        Some(canned.clone())
    }

    /// The listener starts `track` at `started_at` (plays stay in order).
    pub fn play(&mut self, track: Value, started_at: DateTime<Utc>) {
        let at = self.plays.partition_point(|p| p.started_at <= started_at);
        self.plays.insert(at, Play { track, started_at });
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.as_ref().map_or_else(Utc::now, |clock| clock.now())
    }

    /// The play under way, and how far in it is.
    fn current(&self) -> Option<(&Play, TimeDelta)> {
        let now = self.now();
        let play = self.plays.iter().rev().find(|p| p.started_at <= now)?;
        let progress = now - play.started_at;
        (progress < duration(&play.track)).then_some((play, progress))
    }

    /// The plays recently-played shows now, newest first: those that
    /// counted before the next began, once `lag` has passed, the 50 newest.
    fn listed(&self) -> Vec<&Play> {
        let now = self.now();
        let mut listed: Vec<&Play> = self
            .plays
            .iter()
            .enumerate()
            .filter(|(n, play)| {
                let needed = COUNTS_AFTER.min(duration(&play.track));
                let lasted = match self.plays.get(n + 1) {
                    Some(next) => (next.started_at - play.started_at).min(duration(&play.track)),
                    None => now - play.started_at,
                };
                lasted >= needed && play.started_at + needed + self.lag <= now
            })
            .map(|(_, play)| play)
            .collect();
        listed.reverse();
        listed.truncate(HISTORY);
        listed
    }
}

/// The canned answer of `route`, if the script has one.
fn canned(script: &Shared, route: &str) -> Option<Response> {
    script.lock().unwrap().take(route).map(IntoResponse::into_response)
}

fn duration(track: &Value) -> TimeDelta {
    TimeDelta::milliseconds(track["duration_ms"].as_i64().unwrap_or(0))
}

fn spotify_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A track object of Spotify's shape, made up: `id`, a length, an ISRC.
pub fn track(id: &str, duration_ms: i64, isrc: Option<&str>) -> Value {
    json!({
        "id": id, "name": format!("Song {id}"), "type": "track", "uri": format!("spotify:track:{id}"),
        "duration_ms": duration_ms, "is_local": false,
        "artists": [{ "id": "0000000000000000000000", "name": "The Scripts", "type": "artist" }],
        "album": { "id": "1111111111111111111111", "name": "Takes", "images": [] },
        "external_ids": isrc.map_or_else(|| json!({}), |isrc| json!({ "isrc": isrc })),
    })
}

pub type Shared = Arc<Mutex<Script>>;

pub fn router(script: Shared) -> Router {
    Router::new()
        .route("/accounts/authorize", get(authorize))
        .route("/accounts/api/token", post(token))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/player/currently-playing", get(currently_playing))
        .route("/api/v1/me/player/recently-played", get(recently_played))
        .route("/api/v1/tracks/{id}", get(catalog_track))
        .with_state(script)
}

fn record(script: &Shared, path: &str, detail: String) {
    script
        .lock()
        .unwrap()
        .requests
        .push((path.to_owned(), detail, Instant::now()));
}

async fn authorize(State(script): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    record(&script, "/authorize", client_id.clone());
    {
        let mut s = script.lock().unwrap();
        if client_id != HOST_CLIENT && !s.public_apps.contains(&client_id) {
            // Spotify's page for an unknown client, instead of a redirect.
            return (StatusCode::BAD_REQUEST, "INVALID_CLIENT: Invalid client").into_response();
        }
        s.granted_to = Some(client_id);
        s.code_has_challenge = q.get("code_challenge").is_some_and(|c| !c.is_empty());
    }
    Redirect::to(&format!(
        "{}?code=scripted-code&state={}",
        q["redirect_uri"], q["state"]
    ))
    .into_response()
}

/// The client calling `/api/token`: HTTP Basic (an app with its secret),
/// else the form's `client_id` (a public client).
fn token_client(headers: &HeaderMap, form: &HashMap<String, String>) -> (Option<String>, bool) {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(id, _)| id.to_owned()));
    match basic {
        Some(id) => (Some(id), true),
        None => (form.get("client_id").cloned(), false),
    }
}

fn token_refusal(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(script): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (client, with_secret) = token_client(&headers, &form);
    let mut detail = format!("{form:?}");
    if with_secret {
        detail.push_str(&format!(" basic={}", client.as_deref().unwrap_or_default()));
    }
    record(&script, "/api/token", detail);
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if let Some(answer) = canned(&script, &format!("/api/token:{grant}")) {
        return answer;
    }
    let mut s = script.lock().unwrap();
    let client = client.unwrap_or_default();
    let known = if with_secret {
        client == HOST_CLIENT
    } else {
        s.public_apps.contains(&client) && !form.contains_key("client_secret")
    };
    if !known {
        return token_refusal("invalid_client", "Invalid client");
    }
    if grant == "client_credentials" && !with_secret {
        return token_refusal("invalid_client", "Invalid client");
    }
    if grant != "client_credentials" && s.granted_to.as_deref().is_some_and(|to| to != client) {
        let which = if grant == "authorization_code" {
            "Invalid authorization code"
        } else {
            "Invalid refresh token"
        };
        return token_refusal("invalid_grant", which);
    }
    if grant == "authorization_code" && !with_secret && !(s.code_has_challenge && form.contains_key("code_verifier")) {
        return token_refusal("invalid_grant", "code_verifier was incorrect");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            s.issued = 1;
            Json(
                json!({ "access_token": "A1", "token_type": "Bearer", "expires_in": 3600,
                         "refresh_token": "R1", "scope": "user-read-recently-played" }),
            )
            .into_response()
        }
        Some("client_credentials") => {
            Json(json!({ "access_token": "APP", "token_type": "Bearer", "expires_in": 3600 })).into_response()
        }
        Some("refresh_token") if s.refresh_fails => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "Refresh token revoked" })),
        )
            .into_response(),
        Some("refresh_token") => {
            let expected = format!("R{}", s.issued);
            if form.get("refresh_token") != Some(&expected) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "invalid_grant", "error_description": "Invalid refresh token" })),
                )
                    .into_response();
            }
            s.issued += 1;
            let n = s.issued;
            Json(
                json!({ "access_token": format!("A{n}"), "token_type": "Bearer", "expires_in": 3600,
                         "refresh_token": format!("R{n}"), "scope": "user-read-recently-played" }),
            )
            .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unsupported_grant_type" })),
        )
            .into_response(),
    }
}

fn rate_limited(script: &Shared) -> Option<Response> {
    let mut s = script.lock().unwrap();
    if s.rate_limit_next == 0 {
        return None;
    }
    s.rate_limit_next -= 1;
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "2")],
            Json(json!({ "error": { "status": 429, "message": "API rate limit exceeded" } })),
        )
            .into_response(),
    )
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_owned()
}

async fn me(State(script): State<Shared>, headers: HeaderMap) -> Response {
    record(&script, "/v1/me", bearer(&headers));
    if let Some(answer) = canned(&script, "/v1/me") {
        return answer;
    }
    Json(json!({ "id": "scripted", "display_name": "Scripted", "type": "user" })).into_response()
}

async fn currently_playing(State(script): State<Shared>, headers: HeaderMap) -> Response {
    record(&script, "/v1/me/player/currently-playing", bearer(&headers));
    if let Some(answer) = canned(&script, "/v1/me/player/currently-playing") {
        return answer;
    }
    if let Some(refused) = refused_player(&script, &headers) {
        return refused;
    }
    let s = script.lock().unwrap();
    let Some((play, progress)) = s.current() else {
        return StatusCode::NO_CONTENT.into_response();
    };
    Json(json!({
        "timestamp": play.started_at.timestamp_millis(),
        "context": null,
        "progress_ms": progress.num_milliseconds(),
        "item": play.track,
        "currently_playing_type": "track",
        "actions": { "disallows": { "resuming": true } },
        "is_playing": true,
    }))
    .into_response()
}

/// A player call's refusal, if any: a rate limit, or a 401 for a token
/// that is not the latest (or one of `reject_next`).
fn refused_player(script: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(limited) = rate_limited(script) {
        return Some(limited);
    }
    let current = format!("A{}", script.lock().unwrap().issued);
    let rejected = {
        let mut s = script.lock().unwrap();
        let reject = s.reject_next > 0;
        s.reject_next = s.reject_next.saturating_sub(1);
        reject
    };
    (rejected || bearer(headers) != current).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "status": 401, "message": "The access token expired" } })),
        )
            .into_response()
    })
}

async fn recently_played(
    State(script): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<i64>().ok());
    let (limit, after, before) = (number("limit"), number("after"), number("before"));
    record(&script, "/v1/me/player/recently-played", bearer(&headers));
    if let Some(answer) = canned(&script, "/v1/me/player/recently-played") {
        return answer;
    }
    if script.lock().unwrap().api_down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": { "status": 503, "message": "Service unavailable" } })),
        )
            .into_response();
    }
    if let Some(limited) = rate_limited(&script) {
        return limited;
    }
    let limit = limit.unwrap_or(20).clamp(1, 50) as usize;
    let s = script.lock().unwrap();
    let page: Vec<&Play> = s
        .listed()
        .into_iter()
        .filter(|p| after.is_none_or(|after| p.started_at.timestamp_millis() > after))
        .filter(|p| before.is_none_or(|before| p.started_at.timestamp_millis() < before))
        .take(limit)
        .collect();
    let cursors = match (page.first(), page.last()) {
        (Some(newest), Some(oldest)) => json!({
            "after": newest.started_at.timestamp_millis().to_string(),
            "before": oldest.started_at.timestamp_millis().to_string(),
        }),
        _ => Value::Null,
    };
    let items: Vec<Value> = page
        .iter()
        .map(|p| json!({ "track": p.track, "played_at": spotify_time(p.started_at), "context": null }))
        .collect();
    Json(json!({ "items": items, "next": null, "cursors": cursors, "limit": limit })).into_response()
}

async fn catalog_track(State(script): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    record(&script, "/v1/tracks", bearer(&headers));
    script.lock().unwrap().tracks_asked.push(id.clone());
    if let Some(answer) = canned(&script, "/v1/tracks") {
        return answer;
    }
    if let Some(limited) = rate_limited(&script) {
        return limited;
    }
    if let Some(known) = script.lock().unwrap().catalog.get(&id) {
        return Json(known.clone()).into_response();
    }
    Json(
        json!({ "id": id, "name": "Scripted Song", "duration_ms": 200000, "type": "track",
                 "artists": [{ "name": "The Scripts" }], "album": { "name": "Takes", "images": [] } }),
    )
    .into_response()
}
