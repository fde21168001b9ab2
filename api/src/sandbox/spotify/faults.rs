//! Failures the sandbox Spotify can be told to answer, with the bodies and
//! headers Spotify sends (see `tests/fixtures/spotify/`), so a demo or an
//! app developer can see how Send Songs copes:
//! `POST /sandbox/spotify/faults` with `{"fault": "<name>", "times": n,
//! "retryAfter": "<header>"}` answers the next `n` (default 1) matching
//! requests with it. Names:
//!
//! - `rate_limit`: Web API 429 `API rate limit exceeded`, `Retry-After`
//!   as given (default `1`; `null` leaves the header out).
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
use serde::Deserialize;
use serde_json::{Value, json};

use super::SpotifySandbox;
use crate::sandbox::control::{self, Body};

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

/// Body of `POST /faults`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FaultRequest {
    fault: String,
    times: Option<usize>,
    /// `Retry-After` of a 429 (text or number); absent: the default;
    /// `null`: no header.
    #[serde(default, deserialize_with = "given")]
    retry_after: Option<Option<String>>,
}

/// A field that is present, even as `null`.
fn given<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }))
}

/// `POST /faults`: queues a failure.
pub(super) async fn queue(AxumState(sandbox): AxumState<Arc<SpotifySandbox>>, Body(body): Body<Value>) -> Response {
    let request = match serde_json::from_value::<FaultRequest>(body) {
        Ok(request) => request,
        Err(e) => return refuse(e.to_string()),
    };
    let retry_after = |default: &str| match &request.retry_after {
        None => Some(default.to_owned()),
        Some(given) => given.clone(),
    };
    let fault = match request.fault.as_str() {
        "rate_limit" => Fault::RateLimit {
            retry_after: retry_after("1"),
        },
        "quota_exceeded" => Fault::QuotaExceeded {
            retry_after: retry_after("48925"),
        },
        "not_on_allowlist" => Fault::NotOnAllowlist,
        "invalid_client" => Fault::InvalidClient,
        "accounts_down" => Fault::AccountsDown,
        "invalid_grant" => Fault::InvalidGrant,
        other => {
            return refuse(format!(
                "unknown fault `{other}`: rate_limit, quota_exceeded, not_on_allowlist, invalid_client, \
                 accounts_down or invalid_grant"
            ));
        }
    };
    let times = request.times.unwrap_or(1).clamp(1, 1000);
    sandbox.lock().faults.push((fault, times));
    (
        StatusCode::CREATED,
        Json(json!({ "fault": request.fault, "times": times })),
    )
        .into_response()
}

fn refuse(message: String) -> Response {
    control::error(StatusCode::BAD_REQUEST, message)
}
