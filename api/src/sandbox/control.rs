//! The sandbox's own routes — `POST /sandbox/messenger/send`,
//! `POST /sandbox/spotify/play`, `POST /sandbox/spotify/faults`,
//! `POST /sandbox/google/faults`, `GET /sandbox/outbox` — and any path
//! under `/sandbox` that names no route answer every error in one shape:
//! a JSON body `{"error": "<what is wrong and what to send instead>"}`
//! with a 4xx status (400 bad input, 404 nothing there, 405 wrong method,
//! 503 the server cannot take it now). Bad input changes nothing; its
//! error names the field at fault (also as `"field"`) and says what it
//! takes: the allowed values, or the range. The stand-ins of the providers
//! answer as those providers document instead: that is what they are for.
use axum::{
    Json,
    extract::{FromRequest, OriginalUri, Request},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An error of a sandbox route, in the one shape.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A field of a control's body that is wrong: a 400 [`error`] that names
/// it (`"<field>: <what it takes>"`, and `"field"`).
pub fn invalid(field: &str, message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("{field}: {message}"), "field": field })),
    )
        .into_response()
}

/// A JSON request body; one that is missing, malformed or of the wrong
/// shape is refused as a 400 [`error`] saying why (axum's own rejection
/// is a plain-text 4xx); a field of the wrong type, or one the control
/// does not take, is named ([`invalid`]).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match Json::<Value>::from_request(request, state).await {
            Ok(Json(value)) => value,
            Err(rejection) => return Err(error(StatusCode::BAD_REQUEST, rejection.body_text())),
        };
        serde_path_to_error::deserialize(value).map(Body).map_err(|err| {
            let field = err.path().to_string();
            match field.as_str() {
                // The body itself: a missing or unknown field names itself.
                "." => error(StatusCode::BAD_REQUEST, err.inner().to_string()),
                _ => invalid(&field, err.inner()),
            }
        })
    }
}

/// A whole number from `range`, given as `field` (absent or `null`:
/// `None`); anything else — a fraction, a number out of range, text — is
/// refused, naming the field and the range.
#[allow(clippy::result_large_err)]
pub fn whole(
    field: &str,
    value: Option<&Value>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Response> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.as_i64().is_some_and(|n| range.contains(&n)) => Ok(number.as_i64()),
        Some(other) => Err(invalid(
            field,
            format!("a whole number from {} to {} (not {other})", range.start(), range.end()),
        )),
    }
}

/// A path under `/sandbox` that names no route.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no sandbox route {method} {}", uri.path()),
    )
}

/// A sandbox route asked with a method it does not take.
pub async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}
