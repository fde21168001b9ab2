//! Local fakes for Google's token endpoint, FCM HTTP v1 and the Messenger
//! Send API, answering with the status codes and error bodies the real
//! services document. Device tokens and sender ids script the answers:
//! `unregistered…`, `invalid…`, `mismatch…`, `thirdparty…`, `busy…` (429
//! once, with `Retry-After`), `down…` (503 always), `hold…` (the first
//! request is recorded and never answered, as when the sender dies before
//! FCM's answer reaches it; accepted after; a psid `hold…` has its first
//! message so held); psid `gone` (551),
//! `limited` (613 on its second message), `badtoken` (190). Any psid can
//! also be given a scripted answer ([`script`]): a status and a body (the
//! fixtures under `tests/fixtures/messenger/send_api/`) for its next
//! messages. The Send API's limits are kept as Meta keeps them: a text
//! over 2,000 characters, more than 13 quick replies or a title over 20
//! characters is refused with code 100. A device token
//! `fixture-<file>` is answered with `tests/fixtures/fcm/<file>.json` (or
//! `.html`) as its manifest gives it; a device token `entry-<n>` is
//! answered with entry `n` of that manifest (status, headers and body) the
//! first time and accepted after, as a passing failure is;
//! [`Recorded::token_fixture`] makes Google's token endpoint answer a
//! `tests/fixtures/google/` file. FCM accepts any `ya29.` access token.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Recorded {
    pub token_requests: usize,
    /// Assertion claims seen at the token endpoint.
    pub assertions: Vec<Value>,
    /// (device token, request body) per FCM send.
    pub pushes: Vec<(String, Value)>,
    /// The access token each FCM send bore.
    pub bearers: Vec<String>,
    /// (psid, request body) per Send API call.
    pub messages: Vec<(String, Value)>,
    /// Google's token endpoint answers this `tests/fixtures/google/` file
    /// instead of a token.
    pub token_fixture: Option<String>,
    /// Scripted failures already given once.
    once: HashSet<String>,
    /// Scripted answers by psid.
    scripts: HashMap<String, Script>,
}

/// What the fake Send API answers a psid's next `times` messages.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub times: usize,
}

/// From now on, the next `script.times` messages to `psid` get its answer.
pub fn script(recorded: &Shared, psid: &str, script: Script) {
    recorded.lock().unwrap().scripts.insert(psid.to_owned(), script);
}

/// A text the Send API refuses for its limits (length, quick replies).
fn over_the_limits(message: &Value) -> Option<&'static str> {
    let text = message["text"].as_str().unwrap_or_default();
    if text.chars().count() > 2000 || text.encode_utf16().count() > 2000 {
        return Some("(#100) Length of param message[text] must be less than or equal to 2000");
    }
    let replies = message["quick_replies"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if replies.len() > 13 {
        return Some("(#100) param message[quick_replies] must have at most 13 elements");
    }
    if replies
        .iter()
        .any(|reply| reply["title"].as_str().unwrap_or_default().chars().count() > 20)
    {
        return Some("(#100) param message[quick_replies][title] must be at most 20 characters");
    }
    None
}

pub type Shared = Arc<Mutex<Recorded>>;

pub fn router(recorded: Shared) -> Router {
    Router::new()
        .route("/google/token", post(token))
        .route("/fcm/v1/projects/{project}/messages:send", post(fcm_send))
        .route("/graph/me/messages", post(send_api))
        .with_state(recorded)
}

async fn token(State(rec): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut rec = rec.lock().unwrap();
    rec.token_requests += 1;
    if let Some(file) = &rec.token_fixture {
        return crate::fixtures::canned("google", file).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unsupported_grant_type" })),
        )
            .into_response();
    }
    let claims = form
        .get("assertion")
        .and_then(|jwt| jwt.split('.').nth(1))
        .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or_default();
    rec.assertions.push(claims);
    let n = rec.token_requests;
    Json(json!({ "access_token": format!("ya29.fake-{n}"), "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

fn fcm_error(status: StatusCode, state: &str, code: &str) -> Response {
    (
        status,
        Json(
            json!({ "error": { "code": status.as_u16(), "message": format!("{code} (fake)"), "status": state,
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }] } }),
        ),
    )
        .into_response()
}

async fn fcm_send(
    State(rec): State<Shared>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !bearer.starts_with("Bearer ya29.") {
        return fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "UNAUTHENTICATED");
    }
    let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
    if token.starts_with("hold") && hold_first(&rec, &token, &body, bearer) {
        return std::future::pending().await;
    }
    let mut rec = rec.lock().unwrap();
    rec.pushes.push((token.clone(), body));
    rec.bearers.push(bearer.trim_start_matches("Bearer ").to_owned());
    let first_time = rec.once.insert(token.clone());
    if let Some(n) = token.strip_prefix("entry-")
        && first_time
    {
        let n: usize = n.parse().expect("entry-<index in the FCM manifest>");
        return crate::fixtures::entries("fcm")[n].canned().into_response();
    }
    if let Some(name) = token.strip_prefix("fixture-") {
        // `fixture-<file>--retry-after-<seconds>` sets that header too.
        let (file, retry_after) = match name.split_once("--retry-after-") {
            Some((file, seconds)) => (file, Some(seconds)),
            None => (name, None),
        };
        let file = ["json", "html"]
            .iter()
            .map(|ext| format!("{file}.{ext}"))
            .find(|name| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/fcm")
                    .join(name)
                    .exists()
            })
            .unwrap_or_else(|| panic!("no FCM fixture {file}"));
        let canned = crate::fixtures::canned("fcm", &file);
        return match retry_after {
            Some(seconds) => canned.with_header("Retry-After", seconds),
            None => canned,
        }
        .into_response();
    }
    match token.as_str() {
        t if t.starts_with("unregistered") => fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", "UNREGISTERED"),
        t if t.starts_with("invalid") => fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        t if t.starts_with("mismatch") => fcm_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
        t if t.starts_with("thirdparty") => {
            fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
        }
        t if t.starts_with("busy") && first_time => {
            let mut response = fcm_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "30".parse().unwrap());
            response
        }
        t if t.starts_with("down") => fcm_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "UNAVAILABLE"),
        _ => Json(json!({ "name": format!("projects/{project}/messages/{}", rec.pushes.len()) })).into_response(),
    }
}

/// Records a `hold…` device's first push; answers whether it was the first.
fn hold_first(rec: &Shared, token: &str, body: &Value, bearer: &str) -> bool {
    let mut rec = rec.lock().unwrap();
    let first = rec.once.insert(token.to_owned());
    if first {
        rec.pushes.push((token.to_owned(), body.clone()));
        rec.bearers.push(bearer.trim_start_matches("Bearer ").to_owned());
    }
    first
}

/// Records a `hold…` sender's first message; answers whether it was the
/// first.
fn hold_first_message(rec: &Shared, psid: &str, body: &Value) -> bool {
    let mut rec = rec.lock().unwrap();
    let first = rec.once.insert(format!("message:{psid}"));
    if first {
        rec.messages.push((psid.to_owned(), body.clone()));
    }
    first
}

fn graph_error(code: i64, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake" } })),
    )
        .into_response()
}

async fn send_api(State(rec): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bearer != "Bearer page-token" {
        return graph_error(190, "Invalid OAuth access token - Cannot parse access token");
    }
    let psid = body["recipient"]["id"].as_str().unwrap_or("").to_owned();
    if psid.starts_with("hold") && hold_first_message(&rec, &psid, &body) {
        return std::future::pending().await;
    }
    let mut rec = rec.lock().unwrap();
    let refused = over_the_limits(&body["message"]);
    rec.messages.push((psid.clone(), body));
    if let Some(message) = refused {
        return graph_error(100, message);
    }
    if let Some(script) = rec.scripts.get_mut(&psid).filter(|script| script.times > 0) {
        script.times -= 1;
        let status = StatusCode::from_u16(script.status).unwrap();
        return (
            status,
            [(header::CONTENT_TYPE, script.content_type.clone())],
            script.body.clone(),
        )
            .into_response();
    }
    let first_time = rec.once.insert(psid.clone());
    let count = rec.messages.iter().filter(|(p, _)| *p == psid).count();
    match psid.as_str() {
        // Reachable for the first message (the link confirmation), gone after.
        "gone" if !first_time => graph_error(551, "(#551) This person isn't available right now."),
        // The second message (the first after the link confirmation) is rate limited.
        "limited" if count == 2 => graph_error(613, "(#613) Calls to this api have exceeded the rate limit."),
        "badtoken" => graph_error(190, "Error validating access token: Session has expired"),
        _ => {
            Json(json!({ "recipient_id": psid, "message_id": format!("m_fake{}", rec.messages.len()) })).into_response()
        }
    }
}
