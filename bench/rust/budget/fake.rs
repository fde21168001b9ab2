//! The fake Spotify of the budget benchmark, on the moved clock: each
//! listener's plays (every track 200 s long, a play lasting until the next
//! begins), `currently-playing` showing the one under way, and
//! `recently-played` listing a play once it counted (30 s) and `lag` more
//! has passed, newest first, after the cursor, at most the limit asked
//! for. Every Web API call is recorded with the moved clock's time, so the
//! benchmark can count them per day and per 30 seconds.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::common::{
    app::{Clock as _, ManualClock},
    fake::serve_on_own_thread,
};

/// Length of every track (the bench tracks' 200,000 ms).
pub const TRACK_LENGTH: TimeDelta = TimeDelta::seconds(200);
/// A play counts, and Spotify lists it, after this much of it.
pub const COUNTS_AFTER: TimeDelta = TimeDelta::seconds(30);

/// The Web API endpoints the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CurrentlyPlaying,
    RecentlyPlayed,
}

/// One play: which track, from when (until the next play, or its end).
#[derive(Debug, Clone)]
pub struct Play {
    pub track_id: String,
    pub start: DateTime<Utc>,
}

pub struct Fake {
    clock: Arc<ManualClock>,
    /// Plays by access token (`access-{user id}`), in order of start.
    plays: Mutex<HashMap<String, Vec<Play>>>,
    lag: TimeDelta,
    /// Every Web API call: when (the moved clock, ms), which endpoint,
    /// whose token.
    pub calls: Mutex<Vec<(i64, Endpoint, String)>>,
}

impl Fake {
    /// Starts the fake on a thread of its own; answers its URL.
    pub fn start(clock: Arc<ManualClock>, lag: TimeDelta) -> (String, Arc<Fake>) {
        let fake = Arc::new(Fake {
            clock,
            plays: Mutex::default(),
            lag,
            calls: Mutex::default(),
        });
        let router = Router::new()
            .route("/accounts/api/token", post(token))
            .route("/api/v1/me/player/currently-playing", get(currently_playing))
            .route("/api/v1/me/player/recently-played", get(recently_played))
            .with_state(fake.clone());
        (serve_on_own_thread(router), fake)
    }

    /// `token`'s listener plays `track_id` from `start`.
    pub fn play(&self, token: &str, track_id: &str, start: DateTime<Utc>) {
        let mut plays = self.plays.lock().unwrap();
        let plays = plays.entry(token.to_owned()).or_default();
        let at = plays.partition_point(|p| p.start <= start);
        plays.insert(
            at,
            Play {
                track_id: track_id.to_owned(),
                start,
            },
        );
    }

    /// The calls recorded so far.
    pub fn calls(&self) -> Vec<(i64, Endpoint, String)> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, endpoint: Endpoint, headers: &HeaderMap) -> Option<String> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .to_owned();
        let now = self.clock.now().timestamp_millis();
        self.calls.lock().unwrap().push((now, endpoint, token.clone()));
        Some(token)
    }
}

async fn token() -> Json<Value> {
    Json(json!({ "access_token": "fresh", "token_type": "Bearer", "expires_in": 3600 }))
}

fn track(id: &str) -> Value {
    json!({
        "id": id, "name": format!("Track {id}"), "type": "track", "duration_ms": TRACK_LENGTH.num_milliseconds(),
        "artists": [{ "name": "Bench Artist" }], "album": { "name": "Bench Album", "images": [] },
        "external_ids": {},
    })
}

async fn currently_playing(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(token) = fake.record(Endpoint::CurrentlyPlaying, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let now = fake.clock.now();
    let plays = fake.plays.lock().unwrap();
    let Some(play) = plays
        .get(&token)
        .and_then(|plays| plays.iter().rev().find(|p| p.start <= now))
    else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let progress = now - play.start;
    if progress >= TRACK_LENGTH {
        return StatusCode::NO_CONTENT.into_response();
    }
    Json(json!({
        "timestamp": play.start.timestamp_millis(),
        "progress_ms": progress.num_milliseconds(),
        "is_playing": true,
        "currently_playing_type": "track",
        "item": track(&play.track_id),
        "context": null,
        "actions": { "disallows": {} },
    }))
    .into_response()
}

async fn recently_played(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = fake.record(Endpoint::RecentlyPlayed, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let now = fake.clock.now();
    let after = query.get("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .min(50);
    let plays = fake.plays.lock().unwrap();
    let plays = plays.get(&token).map(Vec::as_slice).unwrap_or_default();
    let mut items: Vec<Value> = plays
        .iter()
        .enumerate()
        .filter(|(n, play)| {
            let lasted = match plays.get(n + 1) {
                Some(next) => (next.start - play.start).min(TRACK_LENGTH),
                None => now - play.start,
            };
            lasted >= COUNTS_AFTER
                && play.start + COUNTS_AFTER + fake.lag <= now
                && play.start.timestamp_millis() > after
        })
        .map(|(_, play)| {
            json!({
                "track": track(&play.track_id),
                "played_at": play.start.to_rfc3339_opts(SecondsFormat::Millis, true),
                "context": null,
            })
        })
        .collect();
    items.reverse();
    items.truncate(limit);
    Json(json!({ "items": items, "next": null, "cursors": null, "limit": limit })).into_response()
}

/// The most calls in any span of `span_ms` among `times` (sorted, ms).
pub fn most_in_any(times: &[i64], span_ms: i64) -> usize {
    let mut most = 0;
    let mut first = 0;
    for (last, t) in times.iter().enumerate() {
        while times[first] <= t - span_ms {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}
