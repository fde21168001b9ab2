//! The Accounts service: `/authorize`, which approves at once, and
//! `/api/token`, which redeems codes and refresh tokens and issues app tokens.
use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json,
    extract::{Query, State as AxumState, rejection::FormRejection, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AuthCode, SpotifySandbox, State, Subject, faults::Route, random_token};

/// How long an authorization code can be redeemed.
const CODE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// How long an access token works, in seconds (`expires_in`).
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Query of `GET /authorize`. Every field is optional here so that missing
/// ones get Spotify's error page rather than axum's rejection text.
#[derive(Deserialize)]
pub(super) struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    code_challenge_method: Option<String>,
    code_challenge: Option<String>,
    /// Sandbox only: which Spotify account approves (created on first use).
    /// Without it (and without `sandbox_person`) every sign-in is a fresh
    /// account.
    sandbox_account: Option<String>,
    /// Sandbox only: the account of the person the server sends (the same
    /// person consenting again gets the same account); `sandbox_account`,
    /// added by hand, wins.
    sandbox_person: Option<String>,
    /// Sandbox only: `1` plays the user pressing "Cancel".
    sandbox_deny: Option<String>,
}

/// `GET /authorize`: approves at once and redirects back with a code.
pub(super) async fn authorize(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    query: Result<Query<AuthorizeQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page("INVALID_REQUEST: Malformed request");
    };
    let (client_id, mut redirect) = match validate_authorize(&query) {
        Ok(valid) => valid,
        Err(message) => return error_page(message),
    };
    if query.sandbox_deny.as_deref() == Some("1") {
        redirect.query_pairs_mut().append_pair("error", "access_denied");
    } else {
        let code = sandbox.issue_code(&query, client_id);
        redirect.query_pairs_mut().append_pair("code", &code);
    }
    // Spotify echoes `state` only when the client sent one.
    if let Some(state) = &query.state {
        redirect.query_pairs_mut().append_pair("state", state);
    }
    (StatusCode::FOUND, [(header::LOCATION, redirect.to_string())]).into_response()
}

/// Checks what Spotify checks before it will redirect anywhere. Returns the
/// client ID and the parsed redirect URI, or the message of the error page
/// Spotify shows instead of redirecting.
fn validate_authorize(query: &AuthorizeQuery) -> Result<(&str, Url), &'static str> {
    let client_id = query
        .client_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or("INVALID_CLIENT: Invalid client")?;
    let redirect_uri = query
        .redirect_uri
        .as_deref()
        .filter(|uri| !uri.is_empty())
        .ok_or("INVALID_CLIENT: Invalid redirect URI")?;
    let redirect = usable_redirect(redirect_uri).ok_or("INVALID_CLIENT: Insecure redirect URI")?;
    if query.response_type.as_deref() != Some("code") {
        return Err("unsupported_response_type: response_type must be code");
    }
    if query.code_challenge.is_some() && query.code_challenge_method.as_deref() != Some("S256") {
        return Err("INVALID_REQUEST: code_challenge_method must be S256");
    }
    Ok((client_id, redirect))
}

/// Spotify redirects only to `https://`, or to plain `http://` on a
/// loopback IP address; `localhost` is refused.
fn usable_redirect(uri: &str) -> Option<Url> {
    let url = Url::parse(uri).ok()?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]"));
    let usable = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    usable.then_some(url)
}

/// Spotify's answer when it will not redirect: a short HTML page.
fn error_page(message: &str) -> Response {
    let page = format!("<!DOCTYPE html><html><head><title>Error</title></head><body><h1>{message}</h1></body></html>");
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

impl SpotifySandbox {
    /// Picks the approving account and remembers a new code for it.
    fn issue_code(&self, query: &AuthorizeQuery, client_id: &str) -> String {
        let now = self.now();
        let code = random_token();
        let mut state = self.lock();
        // Unredeemed codes would otherwise pile up in a long sandbox session.
        state.codes.retain(|_, c| c.expires_at > now);
        let chosen = [&query.sandbox_account, &query.sandbox_person]
            .into_iter()
            .find_map(|a| a.as_deref().filter(|a| !a.is_empty()));
        let account = match chosen {
            Some(id) => {
                state.account(id);
                id.to_owned()
            }
            None => state.fresh_account(),
        };
        let grant = AuthCode {
            client_id: client_id.to_owned(),
            redirect_uri: query.redirect_uri.clone().unwrap_or_default(),
            code_challenge: query.code_challenge.clone(),
            account,
            scope: query.scope.clone().unwrap_or_default(),
            expires_at: now + CODE_LIFETIME,
        };
        state.codes.insert(code.clone(), grant);
        code
    }
}

impl State {
    /// A new account nobody has used: `sandbox-<8 hex>`, "Sandbox Listener <4 hex>".
    fn fresh_account(&mut self) -> String {
        loop {
            let id = format!("sandbox-{:08x}", rand::random::<u32>());
            if !self.accounts.contains_key(&id) {
                self.account(&id).display_name = format!("Sandbox Listener {:04x}", rand::random::<u16>());
                return id;
            }
        }
    }
}

/// A 400 from `/api/token`, in OAuth's shape: `{"error", "error_description"}`.
pub(super) struct TokenError {
    error: &'static str,
    description: &'static str,
}

impl TokenError {
    fn invalid_grant(description: &'static str) -> Self {
        Self {
            error: "invalid_grant",
            description,
        }
    }

    fn invalid_client() -> Self {
        Self {
            error: "invalid_client",
            description: "Invalid client",
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The client calling `/api/token`.
struct Client {
    id: String,
    /// False for a public (PKCE) client, which sent only `client_id`.
    has_secret: bool,
}

/// `POST /api/token`.
pub(super) async fn token(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    // A body that is not a form (JSON, say) has no grant_type for Spotify
    // either: it answers "grant_type parameter is missing".
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or_default();
    if let Some(fault) = sandbox.fault(Route::Token(grant_type)) {
        return fault.response();
    }
    grant(&sandbox, &headers, &form).into_response()
}

fn grant(
    sandbox: &SpotifySandbox,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Json<Value>, TokenError> {
    let grant_type = form.get("grant_type").map(String::as_str);
    if !matches!(
        grant_type,
        Some("authorization_code" | "refresh_token" | "client_credentials")
    ) {
        return Err(TokenError {
            error: "unsupported_grant_type",
            description: match grant_type {
                None | Some("") => "grant_type parameter is missing",
                Some(_) => "grant_type must be client_credentials, authorization_code or refresh_token",
            },
        });
    }
    let client = client_auth(headers, form)?;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    match grant_type {
        Some("authorization_code") => {
            sandbox.redeem_code(&client, field("code"), field("redirect_uri"), form.get("code_verifier"))
        }
        Some("refresh_token") => sandbox.refresh(&client, field("refresh_token")),
        _ => sandbox.app_token(&client),
    }
    .map(Json)
}

/// Who is calling: HTTP Basic `client_id:client_secret`, or (PKCE) a
/// `client_id` form field. Any non-empty ID and secret are accepted.
fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<Client, TokenError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        let id = form.get("client_id").filter(|id| !id.is_empty());
        let has_secret = form.get("client_secret").is_some_and(|s| !s.is_empty());
        return id
            .map(|id| Client {
                id: id.clone(),
                has_secret,
            })
            .ok_or_else(TokenError::invalid_client);
    };
    let credentials = authorization
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .ok_or_else(TokenError::invalid_client)?;
    match credentials.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Client {
            id: id.to_owned(),
            has_secret: true,
        }),
        _ => Err(TokenError::invalid_client()),
    }
}

impl SpotifySandbox {
    /// The `authorization_code` grant.
    fn redeem_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&String>,
    ) -> Result<Value, TokenError> {
        let now = self.now();
        let mut state = self.lock();
        // Removed on any attempt, failed ones included: a code is single
        // use, and a wrong verifier must not get another try.
        let grant = state
            .codes
            .remove(code)
            .filter(|grant| grant.expires_at > now && grant.client_id == client.id)
            .ok_or(TokenError::invalid_grant("Invalid authorization code"))?;
        if grant.redirect_uri != redirect_uri {
            return Err(TokenError::invalid_grant("Invalid redirect URI"));
        }
        match &grant.code_challenge {
            Some(challenge) if verifier.is_none_or(|v| pkce_challenge(v) != *challenge) => {
                return Err(TokenError::invalid_grant("code_verifier was incorrect"));
            }
            // A client without a secret proves itself only through PKCE.
            None if !client.has_secret => return Err(TokenError::invalid_client()),
            _ => {}
        }
        drop(state);
        let access_token = self.access_token(&Subject::User(grant.account.clone()), now);
        let refresh_token = self.tokens.refresh(&client.id, &grant.account, &grant.scope);
        Ok(user_token_response(access_token, &grant.scope, refresh_token))
    }

    /// The `refresh_token` grant. It returns a new refresh token, and the
    /// old one keeps working: clients must cope with both behaviours, which
    /// Spotify shows at different times.
    fn refresh(&self, client: &Client, refresh_token: &str) -> Result<Value, TokenError> {
        let grant = self
            .tokens
            .grant(refresh_token)
            .filter(|grant| grant.client_id == client.id)
            .ok_or(TokenError::invalid_grant("Invalid refresh token"))?;
        let access_token = self.access_token(&Subject::User(grant.account.clone()), self.now());
        let refresh_token = self.tokens.refresh(&client.id, &grant.account, &grant.scope);
        Ok(user_token_response(access_token, &grant.scope, refresh_token))
    }

    /// A new access token, valid for an hour from `now`.
    fn access_token(&self, subject: &Subject, now: DateTime<Utc>) -> String {
        self.tokens
            .access(subject, now + TimeDelta::seconds(TOKEN_LIFETIME_SECS))
    }

    /// The `client_credentials` grant: a token for the app itself, which
    /// needs a client secret.
    fn app_token(&self, client: &Client) -> Result<Value, TokenError> {
        if !client.has_secret {
            return Err(TokenError::invalid_client());
        }
        let access_token = self.access_token(&Subject::App, self.now());
        Ok(json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS }))
    }
}

fn user_token_response(access_token: String, scope: &str, refresh_token: String) -> Value {
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": TOKEN_LIFETIME_SECS,
        "refresh_token": refresh_token,
    })
}

/// PKCE S256: BASE64URL-NOPAD(SHA256(verifier)).
pub(super) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
