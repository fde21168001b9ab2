//! The sandbox's own routes — `POST /sandbox/messenger/send`,
//! `POST /sandbox/spotify/play`, `POST /sandbox/spotify/faults`,
//! `POST /sandbox/google/faults`, `GET /sandbox/outbox` — and any path
//! under `/sandbox` that names no route answer every error in one shape:
//! a JSON body `{"error": "<what is wrong and what to send instead>"}`
//! with a 4xx status (400 bad input, 404 nothing there, 405 wrong method,
//! 503 the server cannot take it now). Bad input changes nothing; its
//! error names the field at fault, as the body spelled it (also as
//! `"field"`), and says what it takes: the allowed values, or the range.
//! Only a body that is not a JSON object has no `"field"`. The stand-ins
//! of the providers answer as those providers document instead: that is
//! what they are for.
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

/// A JSON request body: an object, each key once. A body that is not
/// JSON, or not an object (an array, `null`, a string…), is refused as a
/// 400 [`error`] saying so (axum's own rejection is a plain-text 4xx);
/// a key given twice (also in another spelling of the same name, such as
/// `played_at` and `playedAt`), a missing field, one the control does
/// not take, or one of the wrong type is refused naming it ([`invalid`]).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let fields = match Json::<Fields>::from_request(request, state).await {
            Ok(Json(Fields(fields))) => fields,
            Err(rejection) => return Err(error(StatusCode::BAD_REQUEST, rejection.body_text())),
        };
        for (at, (key, _)) in fields.iter().enumerate() {
            if let Some((earlier, _)) = fields[..at].iter().find(|(other, _)| same_name(other, key)) {
                let message = match earlier == key {
                    true => "given twice: give it once".to_owned(),
                    false => format!("given twice (as `{earlier}` and `{key}`): give it once"),
                };
                return Err(invalid(key, message));
            }
        }
        serde_path_to_error::deserialize(Value::Object(fields.into_iter().collect()))
            .map(Body)
            .map_err(|err| {
                let message = err.inner().to_string();
                match err.path().to_string().as_str() {
                    // The body itself: a missing or unknown field, named in
                    // serde's message between backticks.
                    "." => match message.split('`').nth(1) {
                        Some(field) if message.starts_with("missing field") => invalid(field, "required"),
                        Some(field) => invalid(field, message.as_str()),
                        None => error(StatusCode::BAD_REQUEST, message),
                    },
                    field => invalid(field, message.as_str()),
                }
            })
    }
}

/// Whether two keys are spellings of one name (`played_at`, `playedAt`).
fn same_name(a: &str, b: &str) -> bool {
    let plain = |key: &str| -> String {
        key.chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    plain(a) == plain(b)
}

/// A JSON object's keys and values, in the order given, each as often as
/// given; anything but an object is refused.
struct Fields(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object ({\"<field>\": <value>, …}) as the body")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Visitor)
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
