//! Failures the sandbox Spotify can be told to answer, with the bodies and
//! headers Spotify sends (see `tests/fixtures/spotify/`), so a demo or an
//! app developer can see how Send Songs copes:
//! `POST /sandbox/spotify/faults` with `{"fault": "<name>", "times": n,
//! "retryAfter": <seconds>}` answers the next `n` (1 to 1,000; default 1)
//! matching requests with it, after the faults queued before it;
//! `GET /sandbox/spotify/faults` lists the queue (and the pause of Send
//! Songs' calls in force), `DELETE` empties it and lifts that pause.
//! Names:
//!
//! - `rate_limit`: Web API 429 `API rate limit exceeded`, `Retry-After`
//!   as given (whole seconds up to 172,800, or an HTTP date no further
//!   off; default `1`; `null` leaves the header out).
//! - `quota_exceeded`: Web API 429 with the reason `QUOTA_EXCEEDED`
//!   (Development Mode daily quota), `Retry-After` default `48925`.
//! - `not_on_allowlist`: Web API 403 "Check settings on
//!   developer.spotify.com/dashboard, the user may not be registered."
//! - `invalid_client`: the token endpoint refuses the app's credentials.
//! - `accounts_down`: the token endpoint answers 503 with an HTML page.
//! - `invalid_grant`: a refresh is refused with "Refresh token revoked".
use std::sync::Arc;

use axum::{
    Json,
    extract::State as AxumState,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use sea_orm::ActiveEnum as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SpotifySandbox;
use crate::{
    sandbox::control::{self, Body},
    spotify::pause::parse_retry_after,
};

/// A failure to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fault {
    RateLimit { retry_after: Option<String> },
    QuotaExceeded { retry_after: Option<String> },
    NotOnAllowlist,
    InvalidClient,
    AccountsDown,
    InvalidGrant,
}

/// Where a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    WebApi,
    /// The token endpoint, with the grant type.
    Token(&'a str),
}

impl Fault {
    fn applies_to(&self, route: Route<'_>) -> bool {
        match self {
            Self::RateLimit { .. } | Self::QuotaExceeded { .. } | Self::NotOnAllowlist => route == Route::WebApi,
            Self::InvalidClient | Self::AccountsDown => matches!(route, Route::Token(_)),
            Self::InvalidGrant => route == Route::Token("refresh_token"),
        }
    }

    pub(super) fn response(&self) -> Response {
        let web_api = |status: StatusCode, error: Value| (status, Json(json!({ "error": error })));
        let with_retry_after = |mut response: Response, value: &Option<String>| {
            if let Some(value) = value.as_deref().and_then(|v| v.parse().ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        };
        match self {
            Self::RateLimit { retry_after } => with_retry_after(
                web_api(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "status": 429, "message": "API rate limit exceeded" }),
                )
                .into_response(),
                retry_after,
            ),
            Self::QuotaExceeded { retry_after } => with_retry_after(
                web_api(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED" }),
                )
                .into_response(),
                retry_after,
            ),
            Self::NotOnAllowlist => web_api(
                StatusCode::FORBIDDEN,
                json!({ "status": 403, "message": "Check settings on developer.spotify.com/dashboard, the user may not be registered." }),
            )
            .into_response(),
            Self::InvalidClient => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_client", "error_description": "Invalid client secret" })),
            )
                .into_response(),
            Self::AccountsDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(
                    "<!DOCTYPE html><html><head><title>Spotify – Service Unavailable</title></head>\
                     <body><h1>503 Service Unavailable</h1></body></html>",
                ),
            )
                .into_response(),
            Self::InvalidGrant => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_grant", "error_description": "Refresh token revoked" })),
            )
                .into_response(),
        }
    }
}

impl SpotifySandbox {
    /// The failure to answer a request to `route` with, if one is queued
    /// (using up one of its times).
    pub(super) fn fault(&self, route: Route<'_>) -> Option<Fault> {
        let mut state = self.lock();
        let index = state.faults.iter().position(|(fault, _)| fault.applies_to(route))?;
        let fault = state.faults[index].0.clone();
        state.faults[index].1 -= 1;
        if state.faults[index].1 == 0 {
            state.faults.remove(index);
        }
        Some(fault)
    }
}

/// The most times one fault can be queued for.
const MAX_TIMES: i64 = 1000;
/// The longest `Retry-After` the control takes, in seconds: two days, the
/// longest pause a quota 429 orders ([`QUOTA_MAX`](crate::spotify::pause::QUOTA_MAX)).
const MAX_RETRY_AFTER: i64 = 48 * 3600;
/// Every fault by the name the control takes.
const NAMES: &[&str] = &[
    "rate_limit",
    "quota_exceeded",
    "not_on_allowlist",
    "invalid_client",
    "accounts_down",
    "invalid_grant",
];

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Self::RateLimit { .. } => "rate_limit",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::NotOnAllowlist => "not_on_allowlist",
            Self::InvalidClient => "invalid_client",
            Self::AccountsDown => "accounts_down",
            Self::InvalidGrant => "invalid_grant",
        }
    }

    /// As the control lists it, with how many times it is left.
    fn listed(&self, times: usize) -> Value {
        let mut listed = json!({ "fault": self.name(), "times": times });
        if let Self::RateLimit { retry_after } | Self::QuotaExceeded { retry_after } = self {
            listed["retryAfter"] = json!(retry_after);
        }
        listed
    }
}

impl SpotifySandbox {
    /// Every queued fault, in the order they will be answered.
    fn queued(&self) -> Value {
        let state = self.lock();
        Value::Array(state.faults.iter().map(|(fault, times)| fault.listed(*times)).collect())
    }
}

/// Body of `POST /faults`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FaultRequest {
    /// One of [`NAMES`]; required.
    #[serde(default)]
    fault: Option<String>,
    /// How many matching requests it answers: 1 to [`MAX_TIMES`]; 1 when
    /// absent.
    #[serde(default)]
    times: Option<Value>,
    /// `Retry-After` of a 429: whole seconds (a number or its digits) or
    /// an HTTP date, as the header takes them;
    /// absent: the default; `null`: no header.
    #[serde(default, deserialize_with = "given")]
    retry_after: Option<Option<Value>>,
}

/// A field that is present, even as `null`.
fn given<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Value>>, D::Error> {
    Ok(Some(match Value::deserialize(deserializer)? {
        Value::Null => None,
        other => Some(other),
    }))
}

/// `retryAfter` as the header's text: delay-seconds (digits only, or a
/// whole number) or an HTTP date, the two forms of `Retry-After` (RFC
/// 9110, section 10.2.3), no longer than [`MAX_RETRY_AFTER`] as Send Songs
/// reads Spotify's header ([`parse_retry_after`]).
#[allow(clippy::result_large_err)]
fn retry_after(value: &Value, now: chrono::DateTime<chrono::Utc>) -> Result<String, Response> {
    let text = match value {
        Value::Number(number) if number.is_u64() => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => String::new(),
    };
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let date = chrono::DateTime::parse_from_rfc2822(&text).is_ok();
    match parse_retry_after(&text, now) {
        Some(wait) if (digits || date) && wait.as_secs_f64() <= MAX_RETRY_AFTER as f64 => Ok(text),
        _ => Err(control::invalid(
            "retryAfter",
            format!(
                "whole seconds from 0 to {MAX_RETRY_AFTER} (digits only, a number or text), or an HTTP date \
                 (such as \"Tue, 01 Dec 2026 10:00:00 GMT\") no further off, or null to leave the header out \
                 (not {value})"
            ),
        )),
    }
}

/// `POST /faults`: queues a failure behind those queued already; answers
/// the whole queue and, for a 429, how long Send Songs will pause its
/// Spotify calls when it meets it.
pub(super) async fn queue(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    Body(request): Body<FaultRequest>,
) -> Response {
    let times = match control::whole("times", request.times.as_ref(), 1..=MAX_TIMES) {
        Ok(times) => times.unwrap_or(1) as usize,
        Err(refusal) => return refusal,
    };
    let Some(name) = request.fault.as_deref() else {
        return control::invalid("fault", format!("required: one of {}", NAMES.join(", ")));
    };
    let is_429 = matches!(name, "rate_limit" | "quota_exceeded");
    let retry_after = match (&request.retry_after, is_429) {
        (None, _) => None,
        (Some(_), false) => {
            return control::invalid("retryAfter", "goes with rate_limit or quota_exceeded only");
        }
        (Some(None), true) => Some(None),
        (Some(Some(value)), true) => match self::retry_after(value, sandbox.now()) {
            Ok(seconds) => Some(Some(seconds)),
            Err(refusal) => return refusal,
        },
    };
    let or_default = |default: &str| retry_after.clone().unwrap_or_else(|| Some(default.to_owned()));
    let fault = match name {
        "rate_limit" => Fault::RateLimit {
            retry_after: or_default("1"),
        },
        "quota_exceeded" => Fault::QuotaExceeded {
            retry_after: or_default("48925"),
        },
        "not_on_allowlist" => Fault::NotOnAllowlist,
        "invalid_client" => Fault::InvalidClient,
        "accounts_down" => Fault::AccountsDown,
        "invalid_grant" => Fault::InvalidGrant,
        other => {
            return control::invalid("fault", format!("one of {} (not `{other}`)", NAMES.join(", ")));
        }
    };
    let mut answer = fault.listed(times);
    if let (Fault::RateLimit { retry_after } | Fault::QuotaExceeded { retry_after }, Some(app)) =
        (&fault, sandbox.app.get())
    {
        let quota = matches!(fault, Fault::QuotaExceeded { .. });
        let pause = app.client().pause_after(retry_after.as_deref(), quota);
        answer["pause"] = json!({
            "seconds": pause.as_secs(),
            "text": format!(
                "Send Songs pauses every Spotify call for {} s (about {}) when it meets this; \
                 DELETE /sandbox/spotify/faults lifts the pause",
                pause.as_secs(),
                crate::notify::texts::elapsed(chrono::TimeDelta::from_std(pause).unwrap_or(chrono::TimeDelta::MAX))
            ),
        });
    }
    sandbox.lock().faults.push((fault, times));
    answer["queued"] = sandbox.queued();
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// `GET /faults`: the queued faults, in order, and the pause of Send
/// Songs' Spotify calls in force, if any.
pub(super) async fn list(AxumState(sandbox): AxumState<Arc<SpotifySandbox>>) -> Response {
    let pause = match sandbox.app.get() {
        Some(app) => app.client().pause().await.map(|pause| {
            json!({
                "until": pause.until,
                "seconds": (pause.until - sandbox.now()).num_seconds().max(0),
                "reason": pause.reason.to_value(),
            })
        }),
        None => None,
    };
    Json(json!({ "queued": sandbox.queued(), "pause": pause })).into_response()
}

/// `DELETE /faults`: forgets every queued fault and lifts the pause of
/// Send Songs' Spotify calls; answers what was cleared.
pub(super) async fn clear(AxumState(sandbox): AxumState<Arc<SpotifySandbox>>) -> Response {
    let cleared = sandbox.queued();
    sandbox.lock().faults.clear();
    let lifted = match sandbox.app.get() {
        Some(app) => match app.lift_pauses().await {
            Ok(lifted) => lifted,
            Err(err) => return control::error(StatusCode::SERVICE_UNAVAILABLE, format!("lifting the pause: {err}")),
        },
        None => 0,
    };
    Json(json!({ "cleared": cleared, "pausesLifted": lifted })).into_response()
}
