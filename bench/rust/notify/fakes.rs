//! Local fakes of Google's token endpoint, FCM HTTP v1 `messages:send` and
//! the Send API, each answering after the provider delay with the documented
//! success body (and a documented error to a malformed request); and their
//! bare rate, the baseline of each throughput row.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    PAGE_TOKEN,
    common::{
        cpu::own_cpu,
        fake::{self, closed_loop, serve_on_own_thread},
    },
};

/// A push or message as the fake saw it arrive.
pub struct Arrival {
    pub channel: &'static str,
    pub target: String,
    pub at: Instant,
}

pub struct Fakes {
    delay: Duration,
    /// Google token requests.
    pub tokens: AtomicU64,
    pushes: AtomicU64,
    messages: AtomicU64,
    /// Arrivals are reported here while a latency run listens.
    pub listener: Mutex<Option<mpsc::UnboundedSender<Arrival>>>,
}

impl Fakes {
    fn arrived(&self, channel: &'static str, target: String) {
        let at = Instant::now();
        if let Some(listener) = self.listener.lock().unwrap().as_ref() {
            let _ = listener.send(Arrival { channel, target, at });
        }
    }

    /// FCM and Send API requests so far.
    pub fn provider_requests(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed) + self.messages.load(Ordering::Relaxed)
    }
}

/// Google's token endpoint, FCM v1 `messages:send` and the Send API, on
/// their own thread and single-threaded runtime.
pub fn start_fakes(delay: Duration) -> (String, Arc<Fakes>) {
    let fakes = Arc::new(Fakes {
        delay,
        tokens: AtomicU64::new(0),
        pushes: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        listener: Mutex::new(None),
    });
    let router = Router::new()
        .route("/google/token", post(google_token))
        .route("/fcm/v1/projects/{project}/messages:send", post(fcm_send))
        .route("/graph/me/messages", post(send_api))
        .with_state(fakes.clone());
    (serve_on_own_thread(router), fakes)
}

/// The JWT-bearer grant: an access token for an hour.
async fn google_token(State(fakes): State<Arc<Fakes>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let n = fakes.tokens.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(fakes.delay).await;
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || !form.contains_key("assertion")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "bad grant" })),
        )
            .into_response();
    }
    Json(json!({ "access_token": format!("ya29.bench-{n}"), "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Success: `{"name": "projects/{project}/messages/{id}"}`.
async fn fcm_send(
    State(fakes): State<Arc<Fakes>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
    if !bearer(&headers).starts_with("Bearer ya29.bench-") || token.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": { "code": 400, "message": "bench fake: bad request", "status": "INVALID_ARGUMENT" } }),
            ),
        )
            .into_response();
    }
    let n = fakes.pushes.fetch_add(1, Ordering::Relaxed) + 1;
    fakes.arrived("push", token);
    tokio::time::sleep(fakes.delay).await;
    Json(json!({ "name": format!("projects/{project}/messages/{n}") })).into_response()
}

/// Success: `{"recipient_id": …, "message_id": …}`.
async fn send_api(State(fakes): State<Arc<Fakes>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let psid = body["recipient"]["id"].as_str().unwrap_or("").to_owned();
    if bearer(&headers) != format!("Bearer {PAGE_TOKEN}") || psid.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": "bench fake: bad request", "type": "OAuthException", "code": 100 } })),
        )
            .into_response();
    }
    let n = fakes.messages.fetch_add(1, Ordering::Relaxed) + 1;
    fakes.arrived("messenger", psid.clone());
    tokio::time::sleep(fakes.delay).await;
    Json(json!({ "recipient_id": psid, "message_id": format!("m_bench{n}") })).into_response()
}

const BASELINE_SONG: &str = "“Track” by Bench Artist";
const BASELINE_URL: &str = "https://open.spotify.com/track/benchtrack000000000001";

/// An FCM v1 message shaped like the app's.
fn push_body(n: u64) -> Value {
    json!({ "message": {
        "token": format!("bench-device-{n}"),
        "notification": {
            "title": "bench played your song",
            "body": format!("{BASELINE_SONG}, 5 min after you shared it"),
        },
        "data": { "type": "share_played", "shareId": Uuid::now_v7().to_string(), "url": BASELINE_URL },
        "android": { "priority": "HIGH", "notification": { "channel_id": "receipts" } },
        "apns": { "headers": { "apns-priority": "10", "apns-push-type": "alert" } },
        "webpush": { "headers": { "Urgency": "high" } },
    }})
}

/// A Send API text message shaped like the app's.
fn message_body(n: u64) -> Value {
    json!({
        "recipient": { "id": format!("bench-psid-{n}") },
        "messaging_type": "UPDATE",
        "message": { "text": format!("bench played {BASELINE_SONG}, 5 min after you shared it 🎧 {BASELINE_URL}") },
    })
}

/// The fakes' raw rate: `concurrency` callers, each sending in a loop,
/// alternating FCM and the Send API; answers requests per second and this
/// process's CPU time per request (client and fakes).
pub async fn baseline(fakes_url: &str, concurrency: usize, total: usize) -> (f64, Duration) {
    let client = fake::client();
    let fcm_url = format!("{fakes_url}/fcm/v1/projects/sendsongs-sandbox/messages:send");
    let graph_url = format!("{fakes_url}/graph/me/messages");
    let cpu_before = own_cpu();
    let elapsed = closed_loop(concurrency, total, move |left| {
        let request = if left % 2 == 0 {
            client
                .post(&fcm_url)
                .bearer_auth("ya29.bench-baseline")
                .json(&push_body(left))
        } else {
            client
                .post(&graph_url)
                .bearer_auth(PAGE_TOKEN)
                .json(&message_body(left))
        };
        async move {
            let response = request.send().await.expect("the fake answers");
            assert!(response.status().is_success(), "baseline: {}", response.status());
            let _: Value = response.json().await.expect("fake JSON");
        }
    })
    .await;
    let rate = total as f64 / elapsed.as_secs_f64();
    (rate, (own_cpu() - cpu_before) / total.max(1) as u32)
}
