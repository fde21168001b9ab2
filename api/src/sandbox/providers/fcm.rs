//! Firebase Cloud Messaging, HTTP v1: `messages:send` to a device token.
//!
//! Checks in FCM's order (credentials, project, payload, device) and answers
//! with Google's error envelope `{"error":{"code","message","status","details"}}`,
//! the `details` carrying the `FcmError` code the client acts on.
use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State as AxumState},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{PROJECT_ID, ProviderSandbox, UNREGISTERED_PREFIX, bearer};

/// FCM's payload limit, in bytes, applied here to the whole request body.
const MAX_PAYLOAD: usize = 4096;
/// What `validate_only` sends report instead of a real message ID.
const DRY_RUN_ID: &str = "fake_message_id";

const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                               login cookie or other valid authentication credential. See \
                               https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// `POST /fcm/v1/projects/{project_id}/messages:send`.
pub(super) async fn send(
    AxumState(sandbox): AxumState<Arc<ProviderSandbox>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer(&headers).is_some_and(|token| sandbox.access_token_valid(token)) {
        let mut response = error(StatusCode::UNAUTHORIZED, UNAUTHENTICATED, vec![]);
        let challenge = r#"Bearer realm="https://accounts.google.com/", error="invalid_token""#;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge.parse().expect("valid header"));
        return response;
    }
    if project_id != PROJECT_ID {
        return error(StatusCode::FORBIDDEN, "Permission denied", vec![]);
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(e) => return invalid(&Invalid::plain(format!("Invalid JSON payload received. {e}"))),
    };
    let send = match validate(&payload) {
        Ok(send) => send,
        Err(reason) => return invalid(&reason),
    };
    if body.len() > MAX_PAYLOAD {
        let reason = format!(
            "Message is too big: {} bytes, FCM takes at most {MAX_PAYLOAD}.",
            body.len()
        );
        return invalid(&Invalid::at("message", reason));
    }
    if let Some(refusal) = scripted_refusal(&send.token) {
        return refusal;
    }
    let id = if send.validate_only {
        DRY_RUN_ID.to_owned()
    } else {
        rand::random_range(1_000_000_000_000_000u64..10_000_000_000_000_000_000).to_string()
    };
    let name = format!("projects/{PROJECT_ID}/messages/{id}");
    if !send.validate_only {
        sandbox.deliver("push", &send.token, send.text, payload, &name);
    }
    Json(json!({ "name": name })).into_response()
}

/// Device tokens that ask for FCM's documented refusals, by prefix, so
/// that a demo can show each (bodies as `tests/fixtures/fcm/`; FCM v1
/// "ErrorCode"):
///
/// | prefix | answer | Send Songs |
/// |---|---|---|
/// | `unregistered` | 404 `UNREGISTERED` | forgets the device |
/// | `invalid-token` | 400 `INVALID_ARGUMENT` naming the token | forgets the device |
/// | `mismatch` | 403 `SENDER_ID_MISMATCH` | forgets the device |
/// | `thirdparty` | 401 `THIRD_PARTY_AUTH_ERROR` | operator's fault, keeps the device |
/// | `denied` | 403 `PERMISSION_DENIED` (an IAM `ErrorInfo`, no FCM code) | operator's fault, keeps the device |
/// | `quota` | 429 `QUOTA_EXCEEDED`, `Retry-After: 10` | retries, a minute later at the soonest |
/// | `unavailable` | 503 `UNAVAILABLE` | retries |
/// | `internal` | 500 `INTERNAL` | retries |
const REFUSALS: &[(&str, StatusCode, &str, Option<&str>)] = &[
    (
        UNREGISTERED_PREFIX,
        StatusCode::NOT_FOUND,
        "Requested entity was not found.",
        Some("UNREGISTERED"),
    ),
    (
        "invalid-token",
        StatusCode::BAD_REQUEST,
        "The registration token is not a valid FCM registration token",
        Some("INVALID_ARGUMENT"),
    ),
    (
        "mismatch",
        StatusCode::FORBIDDEN,
        "SenderId mismatch",
        Some("SENDER_ID_MISMATCH"),
    ),
    (
        "thirdparty",
        StatusCode::UNAUTHORIZED,
        "Auth error from APNS or Web Push Service",
        Some("THIRD_PARTY_AUTH_ERROR"),
    ),
    (
        "denied",
        StatusCode::FORBIDDEN,
        "Permission 'cloudmessaging.messages.create' denied on resource \
         '//cloudresourcemanager.googleapis.com/projects/sendsongs-sandbox' (or it may not exist).",
        None,
    ),
    (
        "quota",
        StatusCode::TOO_MANY_REQUESTS,
        "Device message rate exceeded.",
        Some("QUOTA_EXCEEDED"),
    ),
    (
        "unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is currently unavailable.",
        Some("UNAVAILABLE"),
    ),
    (
        "internal",
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error encountered.",
        Some("INTERNAL"),
    ),
];

/// The refusal a device token asks for by its prefix ([`REFUSALS`]), if any.
fn scripted_refusal(token: &str) -> Option<Response> {
    let (_, status, message, code) = REFUSALS.iter().find(|(prefix, ..)| token.starts_with(prefix))?;
    let details = match code {
        Some(code) => vec![fcm_error(code)],
        // IAM's refusal names the permission instead of an FCM code.
        None => vec![json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "cloudresourcemanager.googleapis.com",
            "metadata": { "permission": "cloudmessaging.messages.create", "resource": format!("projects/{PROJECT_ID}") },
        })],
    };
    let mut response = error(*status, message, details);
    if *status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
    }
    Some(response)
}

/// A well-formed send.
struct Send {
    /// The device token addressed.
    token: String,
    /// `"title: body"` of the notification, for the outbox.
    text: String,
    /// FCM's dry run: validated, answered, not delivered.
    validate_only: bool,
}

/// Why a payload is refused: the message, and the field at fault if one is.
struct Invalid {
    message: String,
    field: Option<String>,
}

impl Invalid {
    fn plain(message: String) -> Self {
        Self { message, field: None }
    }

    fn at(field: &str, message: String) -> Self {
        Self {
            message,
            field: Some(field.to_owned()),
        }
    }

    /// A field FCM does not know, as Google's JSON mapping reports it.
    fn unknown(name: &str, parent: Option<&str>) -> Self {
        match parent {
            Some(parent) => Self::at(
                &format!("{parent}.{name}"),
                format!("Invalid JSON payload received. Unknown name \"{name}\" at '{parent}': Cannot find field."),
            ),
            None => Self::at(
                name,
                format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."),
            ),
        }
    }

    /// A value of the wrong JSON type, as Google's JSON mapping reports it.
    fn wrong_type(field: &str, expected: &str, value: &Value) -> Self {
        Self::at(field, format!("Invalid value at '{field}' ({expected}), {value}"))
    }
}

const MESSAGE_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.Message";
const NOTIFICATION_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.Notification";
const DATA_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.Message.DataEntry";

/// Checks a request body against FCM's schema, as far as the server uses it.
fn validate(payload: &Value) -> Result<Send, Invalid> {
    let Some(top) = payload.as_object() else {
        return Err(Invalid::plain(format!(
            "Invalid JSON payload received. Expected an object, got {payload}."
        )));
    };
    let mut validate_only = false;
    for (name, value) in present(top) {
        match name {
            "message" => {}
            "validate_only" => {
                validate_only = value
                    .as_bool()
                    .ok_or_else(|| Invalid::wrong_type(name, "TYPE_BOOL", value))?;
            }
            _ => return Err(Invalid::unknown(name, None)),
        }
    }
    let message = match top.get("message") {
        None | Some(Value::Null) => return Err(Invalid::plain("Recipient of the message is not set.".into())),
        Some(Value::Object(message)) => message,
        Some(other) => return Err(Invalid::wrong_type("message", MESSAGE_TYPE, other)),
    };
    let mut title = "";
    let mut body = "";
    for (name, value) in present(message) {
        let field = format!("message.{name}");
        match name {
            "token" | "name" => string(&field, value).map(drop)?,
            "topic" | "condition" => {
                let reason = "The sandbox delivers to device tokens only: topic and condition are not simulated.";
                return Err(Invalid::at(&field, reason.into()));
            }
            "data" => check_data(&field, value)?,
            "notification" => (title, body) = notification(&field, value)?,
            "android" | "apns" | "webpush" | "fcm_options" => {
                if !value.is_object() {
                    let type_name = match name {
                        "android" => "AndroidConfig",
                        "apns" => "ApnsConfig",
                        "webpush" => "WebpushConfig",
                        _ => "FcmOptions",
                    };
                    let expected = format!("type.googleapis.com/google.firebase.fcm.v1.{type_name}");
                    return Err(Invalid::wrong_type(&field, &expected, value));
                }
            }
            _ => return Err(Invalid::unknown(name, Some("message"))),
        }
    }
    let token = match message.get("token") {
        None | Some(Value::Null) => return Err(Invalid::plain("Recipient of the message is not set.".into())),
        Some(token) => token.as_str().unwrap_or_default(),
    };
    if token.is_empty() {
        let reason = "The registration token is not a valid FCM registration token";
        return Err(Invalid::at("message.token", reason.into()));
    }
    let text = match (title, body) {
        ("", "") => "(data message)".to_owned(),
        (title, "") => title.to_owned(),
        ("", body) => body.to_owned(),
        (title, body) => format!("{title}: {body}"),
    };
    Ok(Send {
        token: token.to_owned(),
        text,
        validate_only,
    })
}

/// The fields of an object that are set: Google's JSON mapping reads `null`
/// as absent.
fn present(object: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    object
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
}

fn string<'a>(field: &str, value: &'a Value) -> Result<&'a str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| Invalid::wrong_type(field, "TYPE_STRING", value))
}

/// `data` is a map of strings to strings: FCM refuses any other value.
fn check_data(field: &str, value: &Value) -> Result<(), Invalid> {
    let Some(data) = value.as_object() else {
        return Err(Invalid::wrong_type(field, DATA_TYPE, value));
    };
    for (index, value) in data.values().enumerate() {
        string(&format!("{field}[{index}].value"), value)?;
    }
    Ok(())
}

/// The notification's title and body (empty when unset).
fn notification<'a>(field: &str, value: &'a Value) -> Result<(&'a str, &'a str), Invalid> {
    let Some(notification) = value.as_object() else {
        return Err(Invalid::wrong_type(field, NOTIFICATION_TYPE, value));
    };
    let (mut title, mut body) = ("", "");
    for (name, value) in present(notification) {
        let at = format!("{field}.{name}");
        match name {
            "title" => title = string(&at, value)?,
            "body" => body = string(&at, value)?,
            "image" => string(&at, value).map(drop)?,
            _ => return Err(Invalid::unknown(name, Some(field))),
        }
    }
    Ok((title, body))
}

/// 400 INVALID_ARGUMENT: the `FcmError` code, and a `BadRequest` naming the
/// field when there is one.
fn invalid(reason: &Invalid) -> Response {
    let mut details = vec![fcm_error("INVALID_ARGUMENT")];
    if let Some(field) = &reason.field {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": reason.message }],
        }));
    }
    error(StatusCode::BAD_REQUEST, &reason.message, details)
}

fn fcm_error(code: &str) -> Value {
    json!({ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code })
}

/// Google's API error envelope.
fn error(status: StatusCode, message: &str, details: Vec<Value>) -> Response {
    let status_name = match status {
        StatusCode::BAD_REQUEST => "INVALID_ARGUMENT",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut error = json!({ "code": status.as_u16(), "message": message, "status": status_name });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (status, Json(json!({ "error": error }))).into_response()
}
