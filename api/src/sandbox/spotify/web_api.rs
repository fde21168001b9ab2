//! The Web API endpoints the server calls: `/v1/me`, `/v1/tracks/{id}`,
//! `/v1/me/player/recently-played` and `/v1/me/player/currently-playing`.
use std::{convert::Infallible, sync::Arc};

use axum::{
    Json,
    extract::{FromRequestParts, OriginalUri, Path, Query, State as AxumState},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    PLAY_HISTORY, Play, SpotifySandbox, Subject, account_id,
    catalog::CatalogTrack,
    faults::{Fault, Route},
    items, spotify_time,
    tokens::Refused,
};
use crate::spotify::links::TrackId;

/// Where this fake's Web API is reachable as the caller sees it, such as
/// `http://127.0.0.1:8080/sandbox/spotify/api` (`/v1/...` follows). Spotify
/// puts `https://api.spotify.com` in `href` and `next`; the fake puts its
/// own address there so a client that follows them comes back here.
pub(super) struct ApiBase(String);

impl<S: Send + Sync> FromRequestParts<S> for ApiBase {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        // Inside a nested router the URI has lost the mount point; the
        // original still has it, so the difference is the mount point.
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |o| o.0.path());
        let mount = original.strip_suffix(parts.uri.path()).unwrap_or_default();
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = header(header::HOST)
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let scheme = header(header::HeaderName::from_static("x-forwarded-proto")).unwrap_or("http");
        Ok(Self(format!("{scheme}://{host}{mount}/api")))
    }
}

/// A Web API error, in Spotify's shape: `{"error": {"status", "message"}}`.
pub(super) enum WebApiError {
    /// No token, an unknown one, or an app token where a user is needed.
    InvalidToken,
    ExpiredToken,
    BadRequest(&'static str),
    /// A failure queued with `POST /faults`.
    Fault(Fault),
}

impl IntoResponse for WebApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Fault(fault) => return fault.response(),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "Invalid access token"),
            Self::ExpiredToken => (StatusCode::UNAUTHORIZED, "The access token expired"),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
        };
        let body = Json(json!({ "error": { "status": status.as_u16(), "message": message } }));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = r#"Bearer realm="spotify", error="invalid_token""#;
            (status, [(header::WWW_AUTHENTICATE, challenge)], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

impl SpotifySandbox {
    /// Counts a request to `endpoint` (a path template) for
    /// [`SpotifySandbox::calls`], and answers a queued failure if there is
    /// one.
    fn count_call(&self, endpoint: &'static str) -> Result<(), WebApiError> {
        *self.lock().calls.entry(endpoint).or_default() += 1;
        match self.fault(Route::WebApi) {
            Some(fault) => Err(WebApiError::Fault(fault)),
            None => Ok(()),
        }
    }

    /// Whom the request's bearer token speaks for.
    fn subject(&self, headers: &HeaderMap) -> Result<Subject, WebApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(WebApiError::InvalidToken)?;
        self.tokens.subject(token, self.now()).map_err(|refused| match refused {
            Refused::Invalid => WebApiError::InvalidToken,
            Refused::Expired => WebApiError::ExpiredToken,
        })
    }

    /// The account the request's bearer token speaks for; app tokens have none.
    fn user(&self, headers: &HeaderMap) -> Result<String, WebApiError> {
        match self.subject(headers)? {
            Subject::User(account) => Ok(account),
            Subject::App => Err(WebApiError::InvalidToken),
        }
    }

    /// The account's plays, newest first.
    fn plays_newest_first(&self, account: &str) -> Vec<Play> {
        let state = self.lock();
        let plays = state
            .accounts
            .get(account)
            .map(|a| a.plays.iter().rev().cloned().collect());
        plays.unwrap_or_default()
    }
}

/// `GET /v1/me`.
pub(super) async fn me(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    ApiBase(base): ApiBase,
    headers: HeaderMap,
) -> Result<Json<Value>, WebApiError> {
    sandbox.count_call("/v1/me")?;
    let id = sandbox.user(&headers)?;
    let display_name = sandbox.lock().account(&id).display_name.clone();
    Ok(Json(json!({
        "account_id": account_id(&id),
        "id": id,
        "display_name": display_name,
        "type": "user",
        "uri": format!("spotify:user:{id}"),
        "href": format!("{base}/v1/users/{id}"),
        "external_urls": { "spotify": format!("https://open.spotify.com/user/{id}") },
        "followers": { "href": null, "total": 0 },
        "images": [],
    })))
}

/// `GET /v1/tracks/{id}`: any valid ID is in the catalogue. User and app tokens both work.
pub(super) async fn track(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    ApiBase(base): ApiBase,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebApiError> {
    sandbox.count_call("/v1/tracks/{id}")?;
    sandbox.subject(&headers)?;
    let id = TrackId::parse(&id).ok_or(WebApiError::BadRequest("Invalid base62 id"))?;
    Ok(Json(CatalogTrack::lookup(&id).to_json(&base)))
}

/// Query of `GET /v1/me/player/recently-played`, as text so that bad values
/// get Spotify's JSON error rather than axum's rejection.
#[derive(Deserialize)]
pub(super) struct RecentlyPlayedQuery {
    limit: Option<String>,
    /// Unix ms: only plays strictly after it.
    after: Option<String>,
    /// Unix ms: only plays strictly before it.
    before: Option<String>,
}

/// Which plays a recently-played request asks for.
struct PlayWindow {
    limit: usize,
    after: Option<i64>,
    before: Option<i64>,
}

impl PlayWindow {
    fn parse(query: &RecentlyPlayedQuery) -> Result<Self, WebApiError> {
        let limit = match &query.limit {
            None => 20,
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| (1..=PLAY_HISTORY).contains(n))
                .ok_or(WebApiError::BadRequest("Invalid limit"))?,
        };
        let cursor = |text: &Option<String>, message| {
            text.as_deref()
                .map(|t| t.parse::<i64>().map_err(|_| WebApiError::BadRequest(message)))
                .transpose()
        };
        let after = cursor(&query.after, "Invalid after cursor")?;
        let before = cursor(&query.before, "Invalid before cursor")?;
        if after.is_some() && before.is_some() {
            return Err(WebApiError::BadRequest("Only one of after and before may be specified"));
        }
        Ok(Self { limit, after, before })
    }

    fn contains(&self, play: &Play) -> bool {
        let at = play.played_at.timestamp_millis();
        self.after.is_none_or(|after| at > after) && self.before.is_none_or(|before| at < before)
    }
}

/// `GET /v1/me/player/recently-played`: the newest `limit` plays in the
/// window, newest first, with cursors and a `next` link to older plays.
pub(super) async fn recently_played(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    ApiBase(base): ApiBase,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<RecentlyPlayedQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebApiError> {
    sandbox.count_call("/v1/me/player/recently-played")?;
    let account = sandbox.user(&headers)?;
    let window = PlayWindow::parse(&query)?;
    let matching: Vec<Play> = sandbox
        .plays_newest_first(&account)
        .into_iter()
        .filter(|play| window.contains(play) && play.item.in_history())
        .collect();
    let page = &matching[..matching.len().min(window.limit)];
    let endpoint = format!("{base}/v1/me/player/recently-played");
    let cursors = match (page.first(), page.last()) {
        (Some(newest), Some(oldest)) => json!({
            "after": newest.played_at.timestamp_millis().to_string(),
            "before": oldest.played_at.timestamp_millis().to_string(),
        }),
        _ => Value::Null,
    };
    // `next` pages towards older plays, which a `before` link cannot do
    // while keeping an `after` bound: with `after`, there is no `next`.
    let next = match page.last() {
        Some(oldest) if matching.len() > page.len() && window.after.is_none() => json!(format!(
            "{endpoint}?before={}&limit={}",
            oldest.played_at.timestamp_millis(),
            window.limit
        )),
        _ => Value::Null,
    };
    let href = match uri.query() {
        Some(query) => format!("{endpoint}?{query}"),
        None => endpoint,
    };
    let items: Vec<Value> = page
        .iter()
        .map(|play| {
            json!({
                "track": play.item.history_json(&base),
                "played_at": spotify_time(play.played_at),
                "context": null,
            })
        })
        .collect();
    Ok(Json(json!({
        "items": items,
        "next": next,
        "cursors": cursors,
        "limit": window.limit,
        "href": href,
    })))
}

/// `GET /v1/me/player/currently-playing`: the latest play while it lasts,
/// else 204 with no body (Spotify's "nothing playing").
pub(super) async fn currently_playing(
    AxumState(sandbox): AxumState<Arc<SpotifySandbox>>,
    ApiBase(base): ApiBase,
    headers: HeaderMap,
) -> Result<Response, WebApiError> {
    sandbox.count_call("/v1/me/player/currently-playing")?;
    let account = sandbox.user(&headers)?;
    let Some(latest) = sandbox.plays_newest_first(&account).into_iter().next() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let progress_ms = (sandbox.now() - latest.played_at).num_milliseconds();
    if !(0..latest.item.duration_ms()).contains(&progress_ms) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (item, kind) = latest.item.current_json(&base);
    // A missing track comes as Spotify's fixture shows it: paused, with no
    // progress.
    let missing = matches!(latest.item, items::Played::Missing);
    let body = json!({
        // When playback last changed state: when this play started.
        "timestamp": latest.played_at.timestamp_millis(),
        "progress_ms": if missing { Value::Null } else { json!(progress_ms) },
        "is_playing": !missing,
        "currently_playing_type": kind,
        "item": item,
        "context": null,
        "actions": { "disallows": {} },
    });
    Ok(Json(body).into_response())
}
