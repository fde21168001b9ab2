//! A scripted Spotify for failure cases: known token values, refresh
//! rotation, `invalid_grant`, and 429s with `Retry-After`, answered with
//! Spotify's documented status codes and bodies. Any route can be told to
//! answer a fixture of `tests/fixtures/spotify/` instead ([`Script::answer`],
//! [`Script::always`]). Records every request.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde_json::json;

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
}

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
}

/// The canned answer of `route`, if the script has one.
fn canned(script: &Shared, route: &str) -> Option<Response> {
    script.lock().unwrap().take(route).map(IntoResponse::into_response)
}

pub type Shared = Arc<Mutex<Script>>;

pub fn router(script: Shared) -> Router {
    Router::new()
        .route("/accounts/authorize", get(authorize))
        .route("/accounts/api/token", post(token))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/player/currently-playing", get(currently_playing))
        .route("/api/v1/me/player/recently-played", get(recently_played))
        .route("/api/v1/tracks/{id}", get(track))
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
    record(&script, "/authorize", String::new());
    Redirect::to(&format!(
        "{}?code=scripted-code&state={}",
        q["redirect_uri"], q["state"]
    ))
    .into_response()
}

async fn token(State(script): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let detail = format!("{form:?}");
    record(&script, "/api/token", detail);
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if let Some(answer) = canned(&script, &format!("/api/token:{grant}")) {
        return answer;
    }
    let mut s = script.lock().unwrap();
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
    if let Some(limited) = rate_limited(&script) {
        return limited;
    }
    let current = format!("A{}", script.lock().unwrap().issued);
    let rejected = {
        let mut s = script.lock().unwrap();
        let reject = s.reject_next > 0;
        s.reject_next = s.reject_next.saturating_sub(1);
        reject
    };
    if rejected || bearer(&headers) != current {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "status": 401, "message": "The access token expired" } })),
        )
            .into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn recently_played(State(script): State<Shared>, headers: HeaderMap) -> Response {
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
    Json(json!({ "items": [], "next": null, "cursors": null, "limit": 1 })).into_response()
}

async fn track(State(script): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    record(&script, "/v1/tracks", bearer(&headers));
    if let Some(answer) = canned(&script, "/v1/tracks") {
        return answer;
    }
    if let Some(limited) = rate_limited(&script) {
        return limited;
    }
    Json(
        json!({ "id": id, "name": "Scripted Song", "duration_ms": 200000, "type": "track",
                 "artists": [{ "name": "The Scripts" }], "album": { "name": "Takes", "images": [] } }),
    )
    .into_response()
}
