//! Meta's page webhook events, read one by one.
//!
//! A POST is `{"object": "page", "entry": [...]}`; each entry holds events
//! in `messaging` (this app owns the conversation), `standby` (another app
//! does: this one only watches) or `changes` (`{field, value}`, the form of
//! the dashboard's test notifications and some fields). Each event is read
//! on its own, from the JSON value, never through one typed model of the
//! whole body: a shape nobody expected in one event costs that event, not
//! the POST. What the reading honours (from the fixtures' notes,
//! `tests/fixtures/messenger/webhook/README.md`):
//!
//! - `sender` may be absent (checkbox opt-ins, policy enforcement,
//!   handover roles) or carry a `user_ref` instead of an `id` (chat plugin
//!   guests): without a page-scoped id nobody can be answered, so the event
//!   is acknowledged and ignored;
//! - ids may be numbers; `timestamp` may be absent, a number or a numeric
//!   string, in seconds or milliseconds (the entry's `time` stands in);
//! - unknown event types and fields are normal: ignored, never refused.
//!
//! What becomes an inbox event: messages (text, quick replies, replies, a
//! shared Spotify link, and attachments without text or link — photos,
//! stickers, files, locations, cards… — one event however many
//! attachments it has, answered with what the bot can do instead),
//! postbacks (with the `ref` of the link that opened the conversation),
//! reactions and referrals. Echoes, reads, deliveries, opt-ins, edits,
//! handovers, account linking, policy enforcement, feedback and
//! everything on standby are acknowledged and ignored.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::shared;
use crate::{crypto::sha256_hex, messenger::inbox::NewEvent};
use entity::messenger_inbox::Kind;

/// What one event of a POST came to.
#[derive(Debug)]
pub enum Read {
    /// For the inbox.
    Event(NewEvent),
    /// Acknowledged and dropped: the kind of event, for the metric.
    Ignored(&'static str),
    /// It should have been stored but cannot be: why, and its kind.
    Rejected(&'static str, &'static str),
}

/// The event types Meta documents that Send Songs has no use for: the
/// label each is counted under.
const IGNORED_TYPES: &[&str] = &[
    "read",
    "delivery",
    "optin",
    "message_edit",
    "account_linking",
    "policy_enforcement",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "response_feedback",
    "messaging_feedback",
    "game_play",
    "checkout_update",
    "payment",
];

/// Every event of a page webhook body, in order.
pub fn read(body: &Value, now: DateTime<Utc>) -> Vec<Read> {
    if body["object"].as_str() != Some("page") {
        return vec![Read::Ignored("not_a_page")];
    }
    let mut read = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        let time = millis(&entry["time"]).unwrap_or_else(|| now.timestamp_millis());
        for event in entry["messaging"].as_array().into_iter().flatten() {
            read.push(one(event, time));
        }
        for _ in entry["standby"].as_array().into_iter().flatten() {
            read.push(Read::Ignored("standby"));
        }
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            let field = change["field"].as_str().unwrap_or_default();
            read.push(if field.starts_with("messag") && value.is_object() {
                one(value, time)
            } else {
                Read::Ignored("change")
            });
        }
    }
    read
}

/// One `messaging` event; `entry_time` (ms) when it has no timestamp.
fn one(event: &Value, entry_time: i64) -> Read {
    let Some(fields) = event.as_object() else {
        return Read::Rejected("an event that is not an object", "unknown");
    };
    let sent_at_ms = millis(&event["timestamp"]).unwrap_or(entry_time);
    let psid = id(&event["sender"]["id"]);
    if let Some(message) = fields.get("message") {
        return self::message(message, psid, sent_at_ms);
    }
    if let Some(postback) = fields.get("postback") {
        return self::postback(postback, psid, sent_at_ms);
    }
    if let Some(reaction) = fields.get("reaction") {
        return self::reaction(reaction, psid, sent_at_ms);
    }
    if let Some(referral) = fields.get("referral") {
        return self::referral(referral, psid, sent_at_ms);
    }
    if let Some(enforcement) = fields.get("policy_enforcement") {
        // The page's standing with Meta: the operator must know.
        tracing::warn!(
            action = enforcement["action"].as_str().unwrap_or("unknown"),
            reason = enforcement["reason"].as_str().unwrap_or(""),
            "Meta's policy enforcement on the page"
        );
    }
    Read::Ignored(ignored_type(fields))
}

/// The label of an event of no use: its documented type, or "unknown".
fn ignored_type(fields: &Map<String, Value>) -> &'static str {
    IGNORED_TYPES
        .iter()
        .find(|kind| fields.contains_key(**kind))
        .copied()
        .unwrap_or("unknown")
}

fn message(message: &Value, psid: Option<String>, sent_at_ms: i64) -> Read {
    if truthy(&message["is_echo"]) {
        return Read::Ignored("echo");
    }
    let Some(psid) = psid else {
        return Read::Ignored("no_sender_id");
    };
    let Some(mid) = text(&message["mid"]) else {
        return Read::Rejected("a message without a message id", "message");
    };
    let written = text(&message["text"]);
    let shared_url = shared::spotify_link(&message["attachments"]);
    let quick_reply = text(&message["quick_reply"]["payload"]);
    let target_mid = text(&message["reply_to"]["mid"]);
    // Whatever a person sends gets an answer: a message the bot cannot
    // read as text says what it holds instead.
    let (kind, payload) = match (&quick_reply, &target_mid) {
        (Some(_), _) => (Kind::QuickReply, quick_reply),
        (None, Some(_)) => (Kind::Reply, None),
        (None, None) if written.is_none() && shared_url.is_none() => {
            (Kind::Attachment, shared::kinds(&message["attachments"]))
        }
        (None, None) => (Kind::Message, None),
    };
    Read::Event(NewEvent {
        mid,
        psid,
        sent_at_ms,
        kind,
        text: written,
        payload,
        target_mid,
        shared_url,
        referral: None,
    })
}

fn postback(postback: &Value, psid: Option<String>, sent_at_ms: i64) -> Read {
    let Some(psid) = psid else {
        return Read::Ignored("no_sender_id");
    };
    let payload = text(&postback["payload"]);
    // Postbacks may come without a mid: make one that a redelivery repeats.
    let mid = text(&postback["mid"]).unwrap_or_else(|| {
        made_up_mid(
            "postback",
            &[&psid, &sent_at_ms.to_string(), payload.as_deref().unwrap_or("")],
        )
    });
    Read::Event(NewEvent {
        mid,
        psid,
        sent_at_ms,
        kind: Kind::Postback,
        text: text(&postback["title"]),
        payload,
        referral: text(&postback["referral"]["ref"]),
        ..NewEvent::default()
    })
}

fn reaction(reaction: &Value, psid: Option<String>, sent_at_ms: i64) -> Read {
    let Some(psid) = psid else {
        return Read::Ignored("no_sender_id");
    };
    let Some(target) = text(&reaction["mid"]) else {
        return Read::Rejected("a reaction without the message it is about", "reaction");
    };
    // Meta documents the same fields for unreact, but does not promise them.
    let action = text(&reaction["action"]).unwrap_or_else(|| "react".into());
    let emoji = text(&reaction["emoji"]).or_else(|| text(&reaction["reaction"]));
    let mid = made_up_mid(
        "reaction",
        &[
            &psid,
            &sent_at_ms.to_string(),
            &target,
            &action,
            emoji.as_deref().unwrap_or(""),
        ],
    );
    Read::Event(NewEvent {
        mid,
        psid,
        sent_at_ms,
        kind: Kind::Reaction,
        text: emoji,
        payload: Some(action),
        target_mid: Some(target),
        ..NewEvent::default()
    })
}

fn referral(referral: &Value, psid: Option<String>, sent_at_ms: i64) -> Read {
    let Some(psid) = psid else {
        return Read::Ignored("no_sender_id");
    };
    let Some(reference) = text(&referral["ref"]) else {
        return Read::Ignored("referral");
    };
    let mid = made_up_mid("referral", &[&psid, &sent_at_ms.to_string(), &reference]);
    Read::Event(NewEvent {
        mid,
        psid,
        sent_at_ms,
        kind: Kind::Referral,
        referral: Some(reference),
        ..NewEvent::default()
    })
}

/// An id for an event Meta gives none, the same for a redelivery of it.
fn made_up_mid(kind: &str, parts: &[&str]) -> String {
    format!("{kind}:{}", sha256_hex(&parts.join("\u{1f}")))
}

/// An id: a string, or a number (Meta sends some ids as numbers).
fn id(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// A string field; a number stands for its digits.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::String(flag) => flag.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A time in ms from a number or a numeric string, in seconds or ms
/// (below 10^11 it can only be seconds: 10^11 ms is 1973).
fn millis(value: &Value) -> Option<i64> {
    let number = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))?
        }
        _ => return None,
    };
    match number {
        n if n <= 0 => None,
        n if n < 100_000_000_000 => n.checked_mul(1000),
        n => Some(n),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_in_any_documented_form() {
        assert_eq!(millis(&json!(1789466400000i64)), Some(1789466400000));
        assert_eq!(millis(&json!("1789466409")), Some(1789466409000));
        assert_eq!(millis(&json!(1789466409)), Some(1789466409000));
        assert_eq!(millis(&json!(1789466409.5)), Some(1789466409000));
        assert_eq!(millis(&json!(" 1789466400000 ")), Some(1789466400000));
        assert_eq!(millis(&json!("soon")), None);
        assert_eq!(millis(&json!(-5)), None);
        assert_eq!(millis(&Value::Null), None);
    }

    #[test]
    fn ids_may_be_numbers() {
        assert_eq!(id(&json!(7384019281736452u64)).as_deref(), Some("7384019281736452"));
        assert_eq!(id(&json!("7384019281736452")).as_deref(), Some("7384019281736452"));
        assert_eq!(id(&json!("")), None);
        assert_eq!(id(&json!({ "user_ref": "x" })), None);
    }

    #[test]
    fn a_reaction_redelivered_gets_the_same_id() {
        let event = json!({ "sender": { "id": "1" }, "timestamp": 5_000_000_000_000i64,
            "reaction": { "reaction": "love", "emoji": "❤", "action": "react", "mid": "m_1" } });
        let mid = |read: Read| match read {
            Read::Event(event) => event.mid,
            other => panic!("{other:?}"),
        };
        assert_eq!(mid(one(&event, 0)), mid(one(&event, 0)));
    }
}
