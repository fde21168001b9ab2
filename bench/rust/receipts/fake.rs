//! The fake Spotify of the receipts benchmark, on the moved clock: each
//! recipient plays their shared track once, from a planned moment;
//! `currently-playing` shows it with its progress while it lasts, and
//! `recently-played` lists it only once it counted (30 s) and then only
//! after that play's lag (minutes, as Spotify's history is often late).
//! Answers after a fixed delay, and counts every call by endpoint.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
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

/// Length of every shared track (the bench tracks' 200,000 ms).
pub const TRACK_LENGTH: TimeDelta = TimeDelta::seconds(200);
/// A play counts, and Spotify lists it, after this much of it.
pub const COUNTS_AFTER: TimeDelta = TimeDelta::seconds(30);

/// One recipient's play of their shared track.
#[derive(Debug, Clone)]
pub struct Plan {
    pub track_id: String,
    pub start: DateTime<Utc>,
    /// How late `recently-played` lists it, after it counted.
    pub lag: TimeDelta,
}

#[derive(Default)]
pub struct Counts {
    pub currently_playing: AtomicU64,
    pub recently_played: AtomicU64,
    pub tokens: AtomicU64,
}

impl Counts {
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.currently_playing.load(Ordering::Relaxed),
            self.recently_played.load(Ordering::Relaxed),
            self.tokens.load(Ordering::Relaxed),
        )
    }
}

pub struct Fake {
    clock: Arc<ManualClock>,
    /// Plans by access token (`access-{recipient id}`), set per run.
    plans: Mutex<Arc<HashMap<String, Plan>>>,
    delay: Duration,
    pub counts: Counts,
}

impl Fake {
    /// Starts the fake on a thread of its own; answers its URL.
    pub fn start(clock: Arc<ManualClock>, delay: Duration) -> (String, Arc<Fake>) {
        let fake = Arc::new(Fake {
            clock,
            plans: Mutex::default(),
            delay,
            counts: Counts::default(),
        });
        let router = Router::new()
            .route("/accounts/api/token", post(token))
            .route("/api/v1/me/player/currently-playing", get(currently_playing))
            .route("/api/v1/me/player/recently-played", get(recently_played))
            .with_state(fake.clone());
        (serve_on_own_thread(router), fake)
    }

    /// This run's plays.
    pub fn plan(&self, plans: HashMap<String, Plan>) {
        *self.plans.lock().unwrap() = Arc::new(plans);
    }

    fn plan_of(&self, headers: &HeaderMap) -> Option<Plan> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        self.plans.lock().unwrap().get(token).cloned()
    }
}

async fn token(State(fake): State<Arc<Fake>>) -> Json<Value> {
    let n = fake.counts.tokens.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "access_token": format!("fresh-{n}"), "token_type": "Bearer", "expires_in": 3600 }))
}

fn track(id: &str) -> Value {
    json!({
        "id": id, "name": format!("Track {id}"), "type": "track", "duration_ms": TRACK_LENGTH.num_milliseconds(),
        "artists": [{ "name": "Bench Artist" }], "album": { "name": "Bench Album", "images": [] },
        "external_ids": { "isrc": format!("QZBNC{}", &id[id.len() - 7..]) },
    })
}

async fn currently_playing(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    tokio::time::sleep(fake.delay).await;
    fake.counts.currently_playing.fetch_add(1, Ordering::Relaxed);
    let now = fake.clock.now();
    let Some(plan) = fake.plan_of(&headers) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let progress = now - plan.start;
    if progress < TimeDelta::zero() || progress >= TRACK_LENGTH {
        return StatusCode::NO_CONTENT.into_response();
    }
    Json(json!({
        "timestamp": plan.start.timestamp_millis(),
        "progress_ms": progress.num_milliseconds(),
        "is_playing": true,
        "currently_playing_type": "track",
        "item": track(&plan.track_id),
        "context": null,
        "actions": { "disallows": {} },
    }))
    .into_response()
}

async fn recently_played(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Json<Value> {
    tokio::time::sleep(fake.delay).await;
    fake.counts.recently_played.fetch_add(1, Ordering::Relaxed);
    let now = fake.clock.now();
    let after = query.get("after").and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let items: Vec<Value> = fake
        .plan_of(&headers)
        .filter(|plan| plan.start + COUNTS_AFTER + plan.lag <= now && plan.start.timestamp_millis() > after)
        .map(|plan| {
            json!({
                "track": track(&plan.track_id),
                "played_at": plan.start.to_rfc3339_opts(SecondsFormat::Millis, true),
                "context": null,
            })
        })
        .into_iter()
        .collect();
    Json(json!({ "items": items, "next": null, "cursors": null, "limit": 50 }))
}
