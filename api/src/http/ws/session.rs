//! The session a WebSocket is signed in with, for as long as it is open.
//!
//! `connection_init` carries an access token; the socket keeps it, and the
//! session ends the socket wherever it ends: a log-out, a revoked session
//! (its refresh token used twice), a log-out everywhere or a deleted
//! account reach every replica as events ([`Session::ends`]), after which
//! the socket checks its token again (and again, against the database,
//! whenever its replica may have missed events: `EventBus::gaps`); the
//! token's expiry, on the app's clock, closes it too ([`Session::until`]). An operation is checked
//! before it starts as well, so nothing runs on an ended session between
//! its end and the event.
use async_graphql::ServerError;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde_json::{Map, Value};

use super::Fatal;
use crate::{
    accounts::Viewer,
    app::{App, AppState},
    error::Error,
    events::Event,
    http::graphql::strip_bearer,
};

/// A socket's signed-in session.
pub struct Session {
    /// The bearer token of `connection_init`, checked again as the socket
    /// lives.
    token: String,
    pub viewer: Viewer,
    /// The last moment the token is accepted: the socket closes then.
    pub until: DateTime<Utc>,
}

/// Why a session no longer holds, in words for the client
/// (`UNAUTHENTICATED`).
pub struct Ended(pub String);

impl Ended {
    /// The token's time is up (the check says the same, in these words).
    pub fn expired() -> Self {
        Self("the access token has expired: call refreshSession for a new one".into())
    }

    /// The error each running operation gets.
    pub fn error(&self) -> ServerError {
        let mut error = ServerError::new(self.0.clone(), None);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", Error::Unauthenticated(String::new()).code());
        error
    }
}

impl Session {
    /// Checks the token a `connection_init` carries:
    /// `{"authorization": "Bearer …"}` (`Authorization` too, as GraphiQL
    /// sends its Headers tab). A missing, invalid, expired or ended one is
    /// 4403, so stock clients retry with a fresh token.
    pub async fn open(app: AppState, payload: Map<String, Value>) -> Result<Self, Fatal> {
        let forbidden = |why: &str| Fatal(4403, format!("Forbidden: {why}"));
        let value = ["authorization", "Authorization"]
            .iter()
            .filter_map(|key| payload.get(*key).and_then(Value::as_str))
            .map(str::trim)
            .find(|value| !value.is_empty())
            .ok_or_else(|| forbidden("connection_init needs {\"authorization\": \"Bearer <accessToken>\"}"))?;
        let token = strip_bearer(value).unwrap_or(value);
        match app.accounts.authenticate_until(token).await {
            Ok((viewer, until)) => Ok(Self {
                token: token.to_owned(),
                viewer,
                until,
            }),
            Err(err @ Error::Internal(_)) => {
                err.log();
                // Not the client's fault: stock clients retry after 1013.
                Err(Fatal(1013, "Try again later".into()))
            }
            Err(err) => Err(forbidden(&err.to_string())),
        }
    }

    /// Whether the session still holds. When the database cannot say, it
    /// is taken to hold (logged): the next check will tell.
    pub async fn check(&self, app: &App) -> Result<(), Ended> {
        match app.accounts.authenticate(&self.token).await {
            Ok(_) => Ok(()),
            Err(err @ Error::Internal(_)) => {
                err.log();
                Ok(())
            }
            Err(err) => Err(Ended(err.to_string())),
        }
    }

    /// Like [`check`](Self::check), asking the database rather than the
    /// cache: after events may have been missed, the cache may hold an
    /// ended session.
    pub async fn check_afresh(&self, app: &App) -> Result<(), Ended> {
        app.caches.viewers.forget(&self.viewer.session_id);
        self.check(app).await
    }

    /// The events that end sessions of this person, as they reach this
    /// process from any replica (whose session it was, the check says).
    pub fn ends(&self, app: &App) -> impl Stream<Item = Event> + Send + use<> {
        app.events.session_ends(self.viewer.user_id)
    }
}
