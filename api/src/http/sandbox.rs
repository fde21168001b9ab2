//! Sandbox-only demo route of our own: `POST /sandbox/messenger/send`
//! does what a Messenger user does in the conversation with the page, as
//! a Meta-shaped, signed webhook event through the real webhook path; the
//! bot's answers appear in `GET /sandbox/outbox` (`?psid=…`: that
//! conversation, oldest first). One body, by what the person does:
//!
//! - `{"psid", "text"}`: writes text (`"replyTo": "<mid>"` makes it a
//!   reply to that bot message: `message.reply_to.mid`);
//! - `{"psid", "link"}` (with `text` or not): shares a Spotify link the way
//!   the Spotify app does (a `fallback` attachment behind Facebook's
//!   `l.facebook.com` redirector);
//! - `{"psid", "quickReply": "<payload>"}`: taps a quick reply (`text`: the
//!   button's title, else the title the bot gave it, else the payload);
//! - `{"psid", "postback": "GET_STARTED"}`: taps a button (Get Started),
//!   with `"ref"` as the m.me link's referral when it came through one;
//! - `{"psid", "ref"}`: opens the conversation through an m.me link with
//!   that `ref` (a `referral` event), as the link-code button does;
//! - `{"psid", "reaction": "❤️", "mid": "<mid>"}` reacts to a bot message
//!   (`"action": "unreact"` takes it back): Meta's `message_reactions`;
//! - `{"psid", "events": ["<shape>", …]}`: any webhook event shape Meta
//!   documents, by name (`crate::sandbox::messenger_events`: opt-ins
//!   without a sender, reads, deliveries, echoes, edits, stickers and
//!   attachments, standby, handovers, account linking, policy
//!   enforcement, unknown events, a mixed batch…), all in one signed POST
//!   (a batch), from that psid, timed in the order named (so the bot
//!   answers them in that order); with any of the above beside them, that
//!   event comes last in the same POST.
//!
//! `mid` and `replyTo` name a message the bot sent to that psid, by the
//! `mid` the outbox shows; one the outbox does not hold is a 404. Errors
//! are the sandbox's one shape (`crate::sandbox::control`).
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use std::sync::Arc;

use crate::{
    bot::GET_STARTED,
    messenger::inbox::{MAX_PSID, MAX_TEXT_BYTES},
    sandbox::{
        control::{self, Body},
        messenger_events,
        providers::ProviderSandbox,
    },
    webhook::Webhook,
};

/// The sandbox Page's id, as events name it.
const PAGE: &str = "sandbox-page";

/// What the demo route needs: the webhook to hand the event to, and the
/// outbox to find the bot messages a reaction or reply names.
#[derive(Clone)]
pub struct Demo {
    pub webhook: Arc<Webhook>,
    pub outbox: Arc<ProviderSandbox>,
}

/// What the pretend Messenger user does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Say {
    /// The pretend Messenger user.
    psid: String,
    /// What they write (or the title of the quick reply they tap).
    text: Option<String>,
    /// A Spotify link they share from the Spotify app (with `text` or not).
    link: Option<String>,
    /// The `ref` of an m.me link they open (a link code, say).
    #[serde(rename = "ref")]
    reference: Option<String>,
    /// The payload of the quick reply they tap.
    quick_reply: Option<String>,
    /// The payload of the button they tap (`GET_STARTED`).
    postback: Option<String>,
    /// The emoji they react with to the bot message `mid`.
    reaction: Option<String>,
    /// The bot message they react to.
    mid: Option<String>,
    /// `react` (the default) or `unreact`.
    action: Option<String>,
    /// The bot message their text replies to.
    reply_to: Option<String>,
    /// Documented webhook event shapes, by name, sent in the same POST.
    #[serde(default)]
    events: Vec<String>,
}

impl Say {
    /// Whether the person does something besides the named shapes.
    fn acts(&self) -> bool {
        self.text.is_some()
            || self.link.is_some()
            || self.reference.is_some()
            || self.quick_reply.is_some()
            || self.postback.is_some()
            || self.reaction.is_some()
            || self.mid.is_some()
            || self.action.is_some()
            || self.reply_to.is_some()
    }
}

/// The longest payload of a quick reply or a postback button the Send API
/// takes (Messenger Platform, quick replies and postback button
/// references: 1,000 characters).
const MAX_PAYLOAD_CHARS: usize = 1000;

/// Each field of `say` as Meta could send it, else the refusal naming it.
#[allow(clippy::result_large_err)]
fn check(say: &Say) -> Result<(), Response> {
    let psid = say.psid.as_str();
    if psid.is_empty() || psid.len() > MAX_PSID || psid.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(control::invalid(
            "psid",
            format!("1 to {MAX_PSID} characters without spaces (Meta's are digits)"),
        ));
    }
    if say.text.as_ref().is_some_and(|text| text.len() > MAX_TEXT_BYTES) {
        return Err(control::invalid(
            "text",
            format!("at most {MAX_TEXT_BYTES} bytes (the largest message Meta sends)"),
        ));
    }
    let web = |link: &str| reqwest::Url::parse(link).is_ok_and(|url| matches!(url.scheme(), "https" | "http"));
    if say.link.as_deref().is_some_and(|link| !web(link)) {
        return Err(control::invalid(
            "link",
            "a web address, such as https://open.spotify.com/track/…",
        ));
    }
    let ref_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=');
    if say
        .reference
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.len() > MAX_PAYLOAD_CHARS || !r.chars().all(ref_chars))
    {
        return Err(control::invalid(
            "ref",
            format!(
                "1 to {MAX_PAYLOAD_CHARS} letters, digits, `-`, `_` or `=` (what an m.me link's ref may hold), \
                 such as a 16-digit link code"
            ),
        ));
    }
    for (field, payload) in [("quickReply", &say.quick_reply), ("postback", &say.postback)] {
        if payload
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.chars().count() > MAX_PAYLOAD_CHARS)
        {
            return Err(control::invalid(
                field,
                format!("a payload of 1 to {MAX_PAYLOAD_CHARS} characters"),
            ));
        }
    }
    if say
        .reaction
        .as_deref()
        .is_some_and(|emoji| emoji.is_empty() || emoji.len() > 32 || emoji.chars().any(char::is_whitespace))
    {
        return Err(control::invalid("reaction", "one emoji, such as ❤️"));
    }
    Ok(())
}

pub async fn messenger_send(State(demo): State<Demo>, Body(say): Body<Say>) -> Response {
    if let Err(refusal) = check(&say) {
        return refusal;
    }
    let salt = uuid::Uuid::now_v7().simple().to_string();
    let mid = format!("m_sandbox_{salt}");
    let webhook = &demo.webhook;
    let now = webhook.now().timestamp_millis();
    let to = messenger_events::Addressee {
        psid: &say.psid,
        page: PAGE,
        now_ms: now,
        salt: &salt,
    };
    let mut entries = match messenger_events::batch(&say.events, &to) {
        Ok(entries) => entries,
        Err(name) => {
            let names: Vec<&str> = messenger_events::names().collect();
            return control::invalid(
                "events",
                format!("no shape `{name}`; the shapes are {}", names.join(", ")),
            );
        }
    };
    let acted = say.acts() || entries.is_empty();
    if acted {
        let mut event = match event(&say, &mid, &demo.outbox) {
            Ok(event) => event,
            Err(refusal) => return refusal,
        };
        event["sender"] = json!({ "id": say.psid });
        event["recipient"] = json!({ "id": PAGE });
        event["timestamp"] = json!(now);
        entries.push(json!({ "id": PAGE, "time": now, "messaging": [event] }));
    }
    let body = json!({ "object": "page", "entry": entries }).to_string();
    let secret = webhook
        .app_secret()
        .map(|s| s.expose_secret().to_owned())
        .unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let signed = format!("sha256={signature}");
    if webhook.check_signature(Some(&signed), body.as_bytes()).is_err() {
        return control::error(StatusCode::INTERNAL_SERVER_ERROR, "signing failed");
    }
    let answer = if acted {
        json!({ "mid": mid, "events": say.events.len() })
    } else {
        json!({ "events": say.events.len() })
    };
    match webhook.receive(body.as_bytes()).await {
        Ok(_) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
        Err(err) => control::error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

/// The Meta-shaped event for what the pretend user does (without sender,
/// recipient and timestamp), or the refusal (a whole response: it is
/// built once, on the way out, so its size costs nothing).
#[allow(clippy::result_large_err)]
fn event(say: &Say, mid: &str, outbox: &ProviderSandbox) -> Result<Value, Response> {
    let bad = |message: &str| control::error(StatusCode::BAD_REQUEST, message);
    let said_to = |field: &str, bot_mid: &str| match outbox.message_to(&say.psid, bot_mid) {
        Some(_) => Ok(()),
        None => Err(control::error(
            StatusCode::NOT_FOUND,
            format!(
                "{field}: the outbox holds no message with mid `{bot_mid}` to `{}` (see GET /sandbox/outbox?psid={})",
                say.psid, say.psid
            ),
        )),
    };
    let acts = [
        say.text.is_some() || say.link.is_some(),
        say.quick_reply.is_some(),
        say.postback.is_some(),
        say.reaction.is_some(),
    ];
    match (acts.iter().filter(|a| **a).count(), &say.reference) {
        (0, None) => {
            return Err(bad(
                "give a text, a link, a quickReply, a postback, a ref, a reaction or events",
            ));
        }
        (0, Some(reference)) => {
            return Ok(json!({ "referral": { "ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD" } }));
        }
        (1, _) => {}
        _ if say.quick_reply.is_some() && say.link.is_none() && say.postback.is_none() && say.reaction.is_none() => {}
        _ => {
            return Err(bad(
                "one thing at a time: a text (and link), a quickReply, a postback or a reaction",
            ));
        }
    }
    if say.reference.is_some() && say.postback.is_none() {
        return Err(control::invalid(
            "ref",
            "goes alone (an m.me link opened) or with a postback (Get Started through one)",
        ));
    }
    if let Some(payload) = &say.postback {
        let title = if payload == GET_STARTED {
            "Get Started"
        } else {
            payload.as_str()
        };
        let mut postback = json!({ "mid": mid, "title": title, "payload": payload });
        if let Some(reference) = &say.reference {
            postback["referral"] = json!({ "ref": reference, "source": "SHORTLINK", "type": "OPEN_THREAD" });
        }
        return Ok(json!({ "postback": postback }));
    }
    if let Some(emoji) = &say.reaction {
        let bot_mid = say
            .mid
            .as_deref()
            .ok_or_else(|| control::invalid("mid", "required with a reaction: the mid of the bot message"))?;
        said_to("mid", bot_mid)?;
        let action = say.action.as_deref().unwrap_or("react");
        if !matches!(action, "react" | "unreact") {
            return Err(control::invalid("action", format!("react or unreact (not `{action}`)")));
        }
        return Ok(json!({ "reaction": {
            "reaction": reaction_name(emoji), "emoji": emoji, "action": action, "mid": bot_mid } }));
    }
    if say.mid.is_some() || say.action.is_some() {
        return Err(control::invalid(
            if say.mid.is_some() { "mid" } else { "action" },
            "mid and action go with a reaction (a reply names its message in replyTo)",
        ));
    }
    let mut message = json!({ "mid": mid });
    if let Some(payload) = &say.quick_reply {
        let title = say
            .text
            .clone()
            .or_else(|| outbox.quick_reply_title(&say.psid, payload));
        message["text"] = json!(title.unwrap_or_else(|| payload.clone()));
        message["quick_reply"] = json!({ "payload": payload });
        return Ok(json!({ "message": message }));
    }
    if let Some(text) = &say.text {
        message["text"] = json!(text);
    }
    if let Some(link) = &say.link {
        let wrapped = reqwest::Url::parse_with_params("https://l.facebook.com/l.php", [("u", link.as_str())])
            .map_or_else(|_| link.clone(), String::from);
        message["attachments"] = json!([{ "type": "fallback", "payload": { "url": wrapped, "title": link } }]);
    }
    if let Some(bot_mid) = &say.reply_to {
        said_to("replyTo", bot_mid)?;
        message["reply_to"] = json!({ "mid": bot_mid, "is_self_reply": false });
    }
    Ok(json!({ "message": message }))
}

/// Meta's name for a reaction: one of its seven, by emoji, else `other`
/// (Messenger Platform, webhook events, message_reactions).
fn reaction_name(emoji: &str) -> &'static str {
    match emoji.trim_end_matches('\u{fe0f}') {
        "😆" | "😄" | "😀" => "smile",
        "😠" | "😡" => "angry",
        "😢" | "😭" => "sad",
        "😮" | "😯" => "wow",
        "❤" => "love",
        "👍" => "like",
        "👎" => "dislike",
        _ => "other",
    }
}
