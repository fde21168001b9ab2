//! Google's OAuth 2.0 token endpoint, as service accounts use it: the client
//! signs a short-lived JWT with the account's private key and exchanges it
//! (the `urn:ietf:params:oauth:grant-type:jwt-bearer` grant) for an access
//! token. Other grants are refused as Google refuses unknown ones.
use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json,
    extract::{State as AxumState, rejection::FormRejection},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};

use super::{CLIENT_EMAIL, ProviderSandbox, key, random_base64};
use crate::sandbox::control::{self, Body};

/// The only grant the endpoint serves.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long an access token works, in seconds, as `expires_in` reports it.
const TOKEN_LIFETIME_SECS: i64 = 3599;
/// The longest an assertion may live (`exp - iat`): Google's 60 minutes.
const MAX_ASSERTION_SECS: i64 = 3600;
/// How far in the future `iat` may be, for clocks a little ahead of ours.
const CLOCK_SKEW_SECS: i64 = 300;
/// Scopes that let a token send through FCM: its own, or all of Cloud.
const FCM_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
];
/// The token endpoint's path: an assertion's `aud` must end with it, whatever
/// host and mount point the sandbox is reached through.
const TOKEN_PATH: &str = "/google/token";

const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. \
                         Check your iat and exp values in the JWT claim.";

/// `POST /google/token`: exchanges a signed assertion for an access token.
pub(super) async fn token(
    AxumState(sandbox): AxumState<Arc<ProviderSandbox>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    // A body that is not a form has no grant_type: Google says so rather than
    // complaining about the encoding.
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let Some(fault) = sandbox.take_token_fault() {
        return fault.response();
    }
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or_default();
    if grant_type != JWT_BEARER {
        return error("unsupported_grant_type", &format!("Invalid grant_type: {grant_type}"));
    }
    let Some(assertion) = form.get("assertion").filter(|a| !a.is_empty()) else {
        return error("invalid_request", "Missing required parameter: assertion");
    };
    if let Err((code, description)) = sandbox.check_assertion(assertion) {
        return error(code, description);
    }
    let access_token = sandbox.issue_access_token();
    let body = json!({
        "access_token": access_token,
        "expires_in": TOKEN_LIFETIME_SECS,
        "token_type": "Bearer",
    });
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A refusal the token endpoint can be told to answer, each with Google's
/// documented body (`tests/fixtures/google/`; Google's OAuth 2.0 for
/// service accounts, "Error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// 400 `invalid_grant` "Invalid JWT Signature.": a deleted or rotated key.
    InvalidGrant,
    /// 400 `invalid_client` "The OAuth client was not found.": the service
    /// account's client is gone.
    InvalidClient,
    /// 400 `unauthorized_client`: the client may not use this grant or scope.
    UnauthorizedClient,
    /// 400 `deleted_client` "The OAuth client was deleted.".
    DeletedClient,
    /// 500 `{"error": "internal_failure"}`: Google's passing outage.
    InternalFailure,
    /// 502 with Google's HTML error page (no OAuth body): its front end
    /// failing.
    BadGateway,
}

/// Every fault by the name `POST /google/faults` takes.
const FAULTS: &[(&str, Fault)] = &[
    ("invalid_grant", Fault::InvalidGrant),
    ("invalid_client", Fault::InvalidClient),
    ("unauthorized_client", Fault::UnauthorizedClient),
    ("deleted_client", Fault::DeletedClient),
    ("internal_failure", Fault::InternalFailure),
    ("bad_gateway", Fault::BadGateway),
];

/// Google's 502 page, as its front end serves it (abridged: the style
/// and logo are left out).
const BAD_GATEWAY_PAGE: &str = "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  \
    <title>Error 502 (Server Error)!!1</title>\n  <p><b>502.</b> <ins>That’s an error.</ins>\n  \
    <p>The server encountered a temporary error and could not complete your request.\
    <p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>\n";

impl Fault {
    fn response(self) -> Response {
        match self {
            Self::InvalidGrant => error("invalid_grant", BAD_SIGNATURE),
            Self::InvalidClient => error("invalid_client", "The OAuth client was not found."),
            Self::UnauthorizedClient => error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not \
                 authorized for any of the scopes requested.",
            ),
            Self::DeletedClient => error("deleted_client", "The OAuth client was deleted."),
            Self::InternalFailure => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "internal_failure" })),
            )
                .into_response(),
            Self::BadGateway => (StatusCode::BAD_GATEWAY, Html(BAD_GATEWAY_PAGE)).into_response(),
        }
    }
}

/// The most times one fault can be queued for.
const MAX_TIMES: i64 = 1000;

/// Body of `POST /google/faults`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultRequest {
    /// One of [`FAULTS`]' names; required.
    #[serde(default)]
    fault: Option<String>,
    /// How many token requests it refuses: 1 to [`MAX_TIMES`]; 1 when
    /// absent.
    #[serde(default)]
    times: Option<Value>,
}

/// `POST /google/faults`: `{"fault": "<name>", "times": n}` refuses the
/// next `n` (1 to 1,000; default 1) token requests, after the faults
/// queued before it; names: `invalid_grant`, `invalid_client`,
/// `unauthorized_client`, `deleted_client`, `internal_failure`,
/// `bad_gateway`. Answers the whole queue. `GET /google/faults` lists it,
/// `DELETE /google/faults` empties it.
pub(super) async fn queue_fault(
    AxumState(sandbox): AxumState<Arc<ProviderSandbox>>,
    Body(request): Body<FaultRequest>,
) -> Response {
    let named = FAULTS.iter().find(|(name, _)| request.fault.as_deref() == Some(*name));
    let Some((name, fault)) = named else {
        let names: Vec<&str> = FAULTS.iter().map(|(name, _)| *name).collect();
        let given = match &request.fault {
            Some(given) => format!("not `{given}`"),
            None => "required".to_owned(),
        };
        return control::invalid("fault", format!("one of {} ({given})", names.join(", ")));
    };
    let times = match control::whole("times", request.times.as_ref(), 1..=MAX_TIMES) {
        Ok(times) => times.unwrap_or(1) as usize,
        Err(refusal) => return refusal,
    };
    sandbox.lock().token_faults.push_back((*fault, times));
    (
        StatusCode::CREATED,
        Json(json!({ "fault": name, "times": times, "queued": sandbox.queued_token_faults() })),
    )
        .into_response()
}

/// `GET /google/faults`: the queued refusals, in the order they come.
pub(super) async fn list_faults(AxumState(sandbox): AxumState<Arc<ProviderSandbox>>) -> Response {
    Json(json!({ "queued": sandbox.queued_token_faults() })).into_response()
}

/// `DELETE /google/faults`: forgets every queued refusal; answers them.
pub(super) async fn clear_faults(AxumState(sandbox): AxumState<Arc<ProviderSandbox>>) -> Response {
    let cleared = sandbox.queued_token_faults();
    sandbox.lock().token_faults.clear();
    Json(json!({ "cleared": cleared })).into_response()
}

impl ProviderSandbox {
    /// The queued refusals, in order, each with the times it is left.
    fn queued_token_faults(&self) -> Value {
        let state = self.lock();
        let name = |fault: &Fault| FAULTS.iter().find(|(_, f)| f == fault).map_or("", |(name, _)| *name);
        Value::Array(
            state
                .token_faults
                .iter()
                .map(|(fault, times)| json!({ "fault": name(fault), "times": times }))
                .collect(),
        )
    }

    /// The next queued refusal, if any (using up one of its times).
    fn take_token_fault(&self) -> Option<Fault> {
        let mut state = self.lock();
        let (fault, left) = state.token_faults.front_mut()?;
        let fault = *fault;
        *left -= 1;
        if *left == 0 {
            state.token_faults.pop_front();
        }
        Some(fault)
    }

    /// Checks an assertion as Google does: signature first, then issuer,
    /// times, audience and scope. Errors are `(error, error_description)`.
    fn check_assertion(&self, assertion: &str) -> Result<(), (&'static str, &'static str)> {
        let invalid_grant = |description| ("invalid_grant", description);
        let mut validation = Validation::new(Algorithm::RS256);
        // Times, audience and issuer are checked below, against the sandbox
        // clock and with Google's messages.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(assertion, &self.public_key, &validation)
            .map_err(|_| invalid_grant(BAD_SIGNATURE))?;
        // A key ID, when given, must name the key that signed.
        if data.header.kid.as_deref().is_some_and(|kid| kid != key::PRIVATE_KEY_ID) {
            return Err(invalid_grant(BAD_SIGNATURE));
        }
        let claims = data.claims;
        if claims["iss"].as_str() != Some(CLIENT_EMAIL) {
            return Err(invalid_grant("Invalid grant: account not found"));
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(invalid_grant(BAD_TIMES));
        };
        let now = self.now().timestamp();
        let short_lived = iat < exp && exp - iat <= MAX_ASSERTION_SECS;
        if !short_lived || exp <= now || iat > now + CLOCK_SKEW_SECS {
            return Err(invalid_grant(BAD_TIMES));
        }
        if !claims["aud"].as_str().is_some_and(|aud| aud.ends_with(TOKEN_PATH)) {
            return Err(invalid_grant("Invalid JWT: Failed audience check."));
        }
        let scope = claims["scope"].as_str().unwrap_or_default();
        if !scope.split_whitespace().any(|s| FCM_SCOPES.contains(&s)) {
            return Err(("invalid_scope", "Invalid OAuth scope or ID token audience provided."));
        }
        Ok(())
    }

    /// A new access token, remembered until it expires.
    fn issue_access_token(&self) -> String {
        let now = self.now();
        let token = format!("ya29.{}", random_base64(96));
        let mut state = self.lock();
        // Expired tokens would otherwise pile up in a long sandbox session.
        state.access_tokens.retain(|_, expires_at| *expires_at > now);
        state
            .access_tokens
            .insert(token.clone(), now + TimeDelta::seconds(TOKEN_LIFETIME_SECS));
        token
    }

    /// Whether `token` was issued here and still works.
    pub(super) fn access_token_valid(&self, token: &str) -> bool {
        let now = self.now();
        self.lock()
            .access_tokens
            .get(token)
            .is_some_and(|expires_at| *expires_at > now)
    }
}

/// Google's token-endpoint error: 400 with an OAuth 2.0 error body.
fn error(code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}
