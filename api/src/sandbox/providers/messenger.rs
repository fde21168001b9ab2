//! The Messenger Send API: `POST /me/messages` with a page access token.
//!
//! Errors are the Graph API's: HTTP 400 with
//! `{"error":{"message","type":"OAuthException","code",["error_subcode"],"fbtrace_id"}}`.
//! Message tags are refused: Meta retired them, so only standard messaging
//! (`RESPONSE`, `UPDATE`) is left. Text is limited to 2,000 characters,
//! quick replies to 13, their titles to 20 characters.
//!
//! Any documented error can be asked for by the recipient's PSID, to watch
//! what Send Songs does with it:
//!
//! - `error-<code>[-<subcode>]-<anything>`: every message to it gets that
//!   error (`error-551-ana`, `error-10-1893063-ana`);
//! - `flaky-<code>[-<subcode>]-<anything>`: the first message gets it, the
//!   next ones go through (`flaky-1200-2018024-ana`: a retry, then sent).
//!
//! The answer is shaped as Meta's: its documented message where the
//! sandbox knows it, HTTP 500 with `is_transient` for code 2, HTTP 400
//! for all else.
use std::{collections::HashMap, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State as AxumState, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{PAGE_TOKEN, ProviderSandbox, UNREGISTERED_PREFIX, bearer, random_base64};

/// The Send API's limit on `message.text`, in characters.
const MAX_TEXT: usize = 2000;
/// The most quick replies one message may carry.
const MAX_QUICK_REPLIES: usize = 13;
/// The longest title of a quick reply, in characters.
const MAX_TITLE: usize = 20;
/// Graph's "invalid parameter" error code.
const INVALID_PARAMETER: u32 = 100;
/// Graph's code for a recipient who cannot be reached (blocked the Page,
/// deactivated), and its subcode.
const UNAVAILABLE: (u32, u32) = (551, 1_545_041);

/// `POST /graph/me/messages`.
pub(super) async fn send(
    AxumState(sandbox): AxumState<Arc<ProviderSandbox>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let token = bearer(&headers).or(query.get("access_token").map(String::as_str));
    match token {
        None => {
            let message = "An active access token must be used to query information about the current user.";
            return graph_error(message, 2500, None);
        }
        Some(token) if token != PAGE_TOKEN => {
            let message = "Invalid OAuth access token - Cannot parse access token";
            let mut response = graph_error(message, 190, None);
            let challenge = format!(r#"OAuth "Facebook Platform" "invalid_token" "{message}""#);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge.parse().expect("valid header"));
            return response;
        }
        Some(_) => {}
    }
    // Graph reads parameters it cannot parse as absent, so a body that is not
    // JSON is refused for its missing recipient.
    let payload = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let empty = Map::new();
    let request = payload.as_object().unwrap_or(&empty);
    let send = match validate(request) {
        Ok(send) => send,
        Err(message) => return graph_error(&message, INVALID_PARAMETER, None),
    };
    if send.psid.starts_with(UNREGISTERED_PREFIX) {
        let (code, subcode) = UNAVAILABLE;
        return graph_error("(#551) This person isn't available right now.", code, Some(subcode));
    }
    if let Some((code, subcode)) = asked_for_error(&sandbox, &send.psid) {
        return documented_error(code, subcode);
    }
    let Some(text) = send.text else {
        // A sender action (typing indicator, mark seen): nothing to read.
        return Json(json!({ "recipient_id": send.psid })).into_response();
    };
    let message_id = format!("m_{}", random_base64(48));
    sandbox.deliver("messenger", &send.psid, text, payload, &message_id);
    Json(json!({ "recipient_id": send.psid, "message_id": message_id })).into_response()
}

/// A well-formed send.
struct Send {
    /// The page-scoped ID of the recipient.
    psid: String,
    /// What the recipient reads, for the outbox; `None` for a sender action.
    text: Option<String>,
}

/// Checks a request as the Send API does. Errors are Graph messages.
fn validate(request: &Map<String, Value>) -> Result<Send, String> {
    let recipient = request
        .get("recipient")
        .ok_or("(#100) The parameter recipient is required")?;
    let psid = recipient
        .get("id")
        .and_then(|id| match id {
            // PSIDs are numeric strings; clients may send them as numbers.
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .filter(|id| !id.is_empty())
        .ok_or("(#100) param recipient must be non-empty.")?;
    match request.get("messaging_type").and_then(Value::as_str) {
        None | Some("RESPONSE" | "UPDATE") => {}
        Some("MESSAGE_TAG") => return Err("(#100) Tag is no longer supported".into()),
        Some(other) => {
            return Err(format!(
                "(#100) Param messaging_type must be one of {{RESPONSE, UPDATE, MESSAGE_TAG}} - got \"{other}\""
            ));
        }
    }
    let Some(message) = request.get("message") else {
        return match request.get("sender_action").and_then(Value::as_str) {
            Some("typing_on" | "typing_off" | "mark_seen") => Ok(Send { psid, text: None }),
            Some(other) => Err(format!(
                "(#100) Param sender_action must be one of {{typing_on, typing_off, mark_seen}} - got \"{other}\""
            )),
            None => Err("(#100) The parameter message is required".into()),
        };
    };
    let message = message
        .as_object()
        .ok_or("(#100) Param message must be a JSON object")?;
    let text = match (message.get("text"), message.get("attachment")) {
        (Some(_), Some(_)) => return Err("(#100) Only one of message[text] or message[attachment] may be set".into()),
        (Some(text), None) => text_message(text)?,
        (None, Some(attachment)) => describe_attachment(attachment)?,
        (None, None) => return Err("(#100) Message cannot be empty, must provide valid attachment or text".into()),
    };
    if let Some(replies) = message.get("quick_replies") {
        check_quick_replies(replies)?;
    }
    Ok(Send { psid, text: Some(text) })
}

fn text_message(text: &Value) -> Result<String, String> {
    let text = text.as_str().ok_or("(#100) Param message[text] must be a string")?;
    if text.is_empty() {
        return Err("(#100) Message cannot be empty, must provide valid attachment or text".into());
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!(
            "(#100) Length of param message[text] must be less than or equal to {MAX_TEXT}"
        ));
    }
    Ok(text.to_owned())
}

/// A line for the outbox saying what an attachment shows, such as
/// `[image] https://…` or `[button template] Listen now`.
fn describe_attachment(attachment: &Value) -> Result<String, String> {
    let kind = attachment.get("type").and_then(Value::as_str).unwrap_or_default();
    if !matches!(kind, "image" | "audio" | "video" | "file" | "template") {
        return Err(format!(
            "(#100) Param message[attachment][type] must be one of {{image, audio, video, file, template}} - got \"{kind}\""
        ));
    }
    let payload = attachment
        .get("payload")
        .and_then(Value::as_object)
        .ok_or("(#100) param message[attachment][payload] must be non-empty.")?;
    let str_at = |key: &str| payload.get(key).and_then(Value::as_str);
    if kind != "template" {
        return Ok(match str_at("url").or(str_at("attachment_id")) {
            Some(source) => format!("[{kind}] {source}"),
            None => format!("[{kind}]"),
        });
    }
    let template =
        str_at("template_type").ok_or("(#100) param message[attachment][payload][template_type] must be non-empty.")?;
    let first_title = payload
        .get("elements")
        .and_then(|elements| elements.get(0))
        .and_then(|element| element.get("title"))
        .and_then(Value::as_str);
    Ok(match str_at("text").or(first_title) {
        Some(text) => format!("[{template} template] {text}"),
        None => format!("[{template} template]"),
    })
}

fn check_quick_replies(replies: &Value) -> Result<(), String> {
    let replies = replies
        .as_array()
        .ok_or("(#100) Param message[quick_replies] must be an array")?;
    if replies.len() > MAX_QUICK_REPLIES {
        return Err(format!(
            "(#100) param message[quick_replies] must have at most {MAX_QUICK_REPLIES} elements"
        ));
    }
    for (i, reply) in replies.iter().enumerate() {
        let field = |key: &str| reply.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
        match field("content_type") {
            Some("text") => {
                for key in ["title", "payload"] {
                    if field(key).is_none() {
                        return Err(format!(
                            "(#100) param message[quick_replies][{i}][{key}] must be non-empty."
                        ));
                    }
                }
                if field("title").is_some_and(|title| title.chars().count() > MAX_TITLE) {
                    return Err(format!(
                        "(#100) param message[quick_replies][{i}][title] must be at most {MAX_TITLE} characters"
                    ));
                }
            }
            Some("user_phone_number" | "user_email") => {}
            _ => {
                return Err(format!(
                    "(#100) Param message[quick_replies][{i}][content_type] must be one of {{text, user_phone_number, user_email}}"
                ));
            }
        }
    }
    Ok(())
}

/// Meta's messages for the errors a PSID may ask for (others get a
/// generic one).
const MESSAGES: &[(u32, Option<u32>, &str)] = &[
    (1, None, "An unknown error occurred"),
    (
        2,
        None,
        "An unexpected error has occurred. Please retry your request later.",
    ),
    (4, None, "(#4) Application request limit reached"),
    (10, None, "(#10) Application does not have permission for this action"),
    (
        10,
        Some(1_893_063),
        "You are temporarily restricted from sending messages.",
    ),
    (
        10,
        Some(2_018_108),
        "(#10) This person isn't receiving messages from you right now.",
    ),
    (
        10,
        Some(2_018_278),
        "(#10) This message is sent outside of allowed window.",
    ),
    (100, None, "(#100) No matching user found"),
    (100, Some(2_018_001), "(#100) No matching user found"),
    (190, None, "Invalid OAuth access token."),
    (
        200,
        None,
        "(#200) Cannot message users who are not admins, developers or testers of the app until pages_messaging permission is reviewed and the app is live.",
    ),
    (368, None, "(#368) Temporarily blocked for policies violations."),
    (551, None, "(#551) This person isn't available right now."),
    (613, None, "(#613) Calls to this api have exceeded the rate limit."),
    (
        1200,
        None,
        "(#1200) Temporary send message failure. Please try again later.",
    ),
    (2022, None, "(#2022) You have been temporarily blocked"),
    (
        2_018_300,
        None,
        "Message failed to send because another app is controlling this thread now.",
    ),
];

/// The error a PSID asks for (`error-<code>[-<subcode>]-…`, or
/// `flaky-…` the first time), if it asks for one.
fn asked_for_error(sandbox: &ProviderSandbox, psid: &str) -> Option<(u32, Option<u32>)> {
    let (always, rest) = match psid.split_once('-')? {
        ("error", rest) => (true, rest),
        ("flaky", rest) => (false, rest),
        _ => return None,
    };
    let mut numbers = rest.split('-').map_while(|part| part.parse::<u32>().ok());
    let code = numbers.next()?;
    let subcode = numbers.next();
    if !always && !sandbox.lock().flaky_answered.insert(psid.to_owned()) {
        return None;
    }
    Some((code, subcode))
}

/// A Graph error as Meta sends it.
fn documented_error(code: u32, subcode: Option<u32>) -> Response {
    let known = |sub: Option<u32>| MESSAGES.iter().find(|(c, s, _)| *c == code && *s == sub);
    let message = known(subcode).or_else(|| known(None)).map_or_else(
        || format!("(#{code}) An error the sandbox was asked for"),
        |(_, _, m)| (*m).to_owned(),
    );
    if code != 2 {
        return graph_error(&message, code, subcode);
    }
    // Meta's code 2 comes as a 500 that says it is transient.
    let body = json!({ "error": { "message": message, "type": "OAuthException", "code": code,
        "is_transient": true, "fbtrace_id": random_base64(8) } });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// A Graph API error: HTTP 400, an `OAuthException` with a fresh trace ID.
fn graph_error(message: &str, code: u32, subcode: Option<u32>) -> Response {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": random_base64(8),
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}
