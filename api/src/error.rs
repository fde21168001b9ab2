//! The one error type for everything that reaches a person.
//!
//! Domain functions return [`Result`]. Each variant names the code it becomes
//! (GraphQL `extensions.code`, HTTP status). Only `Internal` carries an
//! `anyhow` chain: it is logged in full and shown as "internal error", so SQL,
//! stack traces and secrets never reach a response. `anyhow` is for the
//! unexpected; anything a caller could act on is a typed variant.
use std::time::Duration;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use sea_orm::{DbErr, SqlErr};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `UNAUTHENTICATED`, 401: no valid access token where one is needed.
    #[error("{0}")]
    Unauthenticated(String),
    /// `FORBIDDEN`, 403: signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// `NOT_FOUND`, 404.
    #[error("{0}")]
    NotFound(String),
    /// `BAD_USER_INPUT`, 400: `field` names the input at fault when there is one.
    #[error("{message}")]
    BadUserInput {
        field: Option<&'static str>,
        message: String,
    },
    /// `CONFLICT`, 409: the request clashes with existing data (a taken handle).
    #[error("{0}")]
    Conflict(String),
    /// `RATE_LIMITED`, 429.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// `UPSTREAM_UNAVAILABLE`, 503: an outside service failed us.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// `INTERNAL`, 500: logged with its chain, shown without it.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn unauthenticated() -> Self {
        Self::Unauthenticated("sign in first: this needs an access token".into())
    }

    /// A copy of an error several askers share (a data loader answers a
    /// whole batch with one): the same variant and words; an internal
    /// error keeps its chain as text.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Unauthenticated(m) => Self::Unauthenticated(m.clone()),
            Self::Forbidden(m) => Self::Forbidden(m.clone()),
            Self::NotFound(m) => Self::NotFound(m.clone()),
            Self::BadUserInput { field, message } => Self::BadUserInput {
                field: *field,
                message: message.clone(),
            },
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::RateLimited { message, retry_after } => Self::RateLimited {
                message: message.clone(),
                retry_after: *retry_after,
            },
            Self::UpstreamUnavailable(m) => Self::UpstreamUnavailable(m.clone()),
            Self::Internal(err) => Self::Internal(anyhow::anyhow!("{err:#}")),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::UpstreamUnavailable(_) => "UPSTREAM_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadUserInput { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs an internal error with its whole chain; other kinds are the
    /// caller's mistake and are not worth a log line.
    pub fn log(&self) {
        if let Self::Internal(err) = self {
            tracing::error!(error = ?err, "internal error");
        }
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        Self::Internal(err.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

/// True when `err` is a unique-constraint violation, which callers turn into
/// a friendly `CONFLICT` (or treat as "someone else got there first").
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl Error {
    /// How many whole seconds to wait before trying again, rounded up (at
    /// least 1), when the error says: `Retry-After` on HTTP,
    /// `extensions.retryAfter` on GraphQL, and the same number the message
    /// gives.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after: Some(after),
                ..
            } => Some((after.as_secs_f64().ceil() as u64).max(1)),
            _ => None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after_secs()
            && let Ok(value) = after.to_string().parse()
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}
