//! Every page webhook event shape Meta documents, for the sandbox's pretend
//! Messenger user: `POST /sandbox/messenger/send` with `"events": [<name>…]`
//! delivers them, several in one signed POST, through the same webhook path
//! Meta's POSTs take.
//!
//! The shapes are the bodies kept under `tests/fixtures/messenger/webhook/`
//! (one per documented shape, named after it, with its source in that
//! folder's README), built into the server when it is compiled: nothing is
//! read from disk at run time. Before they are sent, each is addressed to
//! the sandbox ([`addressed`]): every person in it becomes the pretend
//! user, the Page becomes the sandbox Page, message ids are made fresh
//! (the inbox stores each id once, so the same shape can be sent again)
//! and times are moved to just before now, keeping their forms (a number
//! of milliseconds, or seconds in a string) and their order; several
//! shapes follow one another in the order named ([`batch`]).
use serde_json::Value;

/// Every shape by name: the file name without `.json`.
macro_rules! shapes {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/messenger/webhook/",
                $name,
                ".json"
            )),
        )),*]
    };
}

/// The shapes, by name, each a whole webhook body as Meta sends it.
const SHAPES: &[(&str, &str)] = shapes![
    "account_linking_linked",
    "account_linking_unlinked",
    "batch_mixed_events",
    "handover_app_roles_no_sender",
    "handover_pass_thread_control",
    "handover_pass_thread_control_from_idle",
    "handover_request_thread_control",
    "handover_take_thread_control",
    "message_attachment_audio",
    "message_attachment_file",
    "message_attachment_ig_reel",
    "message_attachment_image",
    "message_attachment_location",
    "message_attachment_post",
    "message_attachment_product",
    "message_attachment_reel",
    "message_attachment_story_mention",
    "message_attachment_template",
    "message_attachment_template_spotify_track",
    "message_attachment_video",
    "message_attachments_multiple",
    "message_deliveries",
    "message_deliveries_watermark_only",
    "message_echo_fallback_top_level_url",
    "message_echo_page_inbox",
    "message_echo_quick_replies",
    "message_echo_text",
    "message_edits",
    "message_fallback_without_payload",
    "message_quick_reply",
    "message_reactions_other",
    "message_reactions_react",
    "message_reactions_unreact",
    "message_reads",
    "message_reply_to",
    "message_spotify_share_album_link",
    "message_spotify_share_fallback_top_level_url_payload_null",
    "message_spotify_share_fallback_unwrapped_url",
    "message_spotify_share_fallback_with_text",
    "message_spotify_share_fallback_without_text",
    "message_spotify_share_share_type",
    "message_spotify_share_short_link",
    "message_sticker",
    "message_sticker_legacy_image",
    "message_sticker_transition_sticker_and_image",
    "message_text",
    "message_text_with_nul_character",
    "message_text_with_spotify_link",
    "message_with_ads_referral",
    "optin_checkbox_plugin_user_ref_no_sender",
    "optin_notification_messages",
    "optin_notification_messages_stopped",
    "optin_send_to_messenger_ref",
    "policy_enforcement_block",
    "policy_enforcement_unblock",
    "policy_enforcement_warning",
    "postback_button",
    "postback_changes_field_value_user_ref",
    "postback_get_started",
    "postback_get_started_with_referral",
    "referral_ads",
    "referral_chat_plugin_guest_user_ref",
    "referral_chat_plugin_psid",
    "referral_mme_shortlink",
    "response_feedback",
    "standby_echo_template_attachment_id_number",
    "standby_message",
    "standby_postback_without_payload",
    "standby_read",
    "unknown_changes_field",
    "unknown_fields_on_known_event",
    "unknown_future_event_type",
];

/// The people of the shapes (page-scoped ids: Ana, Ben, Cleo).
const PEOPLE: [&str; 3] = ["7384019281736452", "6921847302958163", "25190387465210934"];
/// The Page of the shapes.
const PAGE: &str = "104872931258841";
/// The shapes' earliest time, in milliseconds (2026-09-15T10:00:00Z).
const SHAPES_START_MS: i64 = 1_789_466_400_000;
/// How long before now the shapes' earliest time is moved to: they span
/// under a minute, so they all land just before now.
const LEAD_MS: i64 = 60_000;

/// Every shape's name, in alphabetical order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SHAPES.iter().map(|(name, _)| *name)
}

/// Who and when a shape is sent for.
pub struct Addressee<'a> {
    /// The pretend user: every person in the shape.
    pub psid: &'a str,
    /// The sandbox Page's id.
    pub page: &'a str,
    /// Now, in Unix milliseconds.
    pub now_ms: i64,
    /// Appended to every message id, so that each send is new.
    pub salt: &'a str,
}

/// The `entry` items of the shapes `names`, addressed to `to`, in the
/// order given: the times of each shape come after those of the shapes
/// before it (each is moved a further [`LEAD_MS`] back for every shape
/// after it), so the inbox, which answers a person's messages oldest
/// first, takes them in that order; each shape's message ids are fresh,
/// also when a name is given twice. `Err`: the first name that is not a
/// shape.
pub fn batch<'n>(names: &'n [String], to: &Addressee<'_>) -> Result<Vec<Value>, &'n str> {
    let mut entries = Vec::new();
    for (at, name) in names.iter().enumerate() {
        let later = (names.len() - 1 - at) as i64;
        let salt = format!("{}{at}", to.salt);
        let this = Addressee {
            now_ms: to.now_ms - later * LEAD_MS,
            salt: &salt,
            ..*to
        };
        entries.extend(self::entries(name, &this).ok_or(name.as_str())?);
    }
    Ok(entries)
}

/// The `entry` items of the shape `name`, addressed to `to`; `None` for
/// a name that is not a shape.
pub fn entries(name: &str, to: &Addressee<'_>) -> Option<Vec<Value>> {
    let (_, text) = SHAPES.iter().find(|(shape, _)| *shape == name)?;
    let body: Value = serde_json::from_str(text).expect("the embedded webhook shapes are JSON");
    match addressed(body, to) {
        Value::Object(mut body) => match body.remove("entry") {
            Some(Value::Array(entries)) => Some(entries),
            _ => None,
        },
        _ => None,
    }
}

/// `value` sent by `to` (see the module's notes).
fn addressed(value: Value, to: &Addressee<'_>) -> Value {
    let shift_ms = to.now_ms - LEAD_MS - SHAPES_START_MS;
    walk(value, None, &|key: Option<&str>, value: Value| match (key, value) {
        (_, Value::String(id)) if PEOPLE.contains(&id.as_str()) => Value::String(to.psid.to_owned()),
        (_, Value::String(id)) if id == PAGE => Value::String(to.page.to_owned()),
        (Some("mid" | "mids"), Value::String(mid)) => Value::String(format!("{mid}_{}", to.salt)),
        (Some("time" | "timestamp" | "watermark" | "token_expiry_timestamp"), time) => moved(time, shift_ms),
        (_, other) => other,
    })
}

/// Every scalar of `value` through `change`, with the key it is under
/// (an array's items are under the array's key).
fn walk(value: Value, key: Option<&str>, change: &dyn Fn(Option<&str>, Value) -> Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| {
                    let value = walk(value, Some(name.as_str()), change);
                    (name, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|item| walk(item, key, change)).collect()),
        scalar => change(key, scalar),
    }
}

/// A time moved by `shift_ms`, in its own form: milliseconds or seconds,
/// a number or a numeric string.
fn moved(time: Value, shift_ms: i64) -> Value {
    let shifted = |value: i64| {
        if value >= 1_000_000_000_000 {
            value + shift_ms
        } else {
            value + shift_ms / 1000
        }
    };
    let number = match &time {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    match (number, time.is_string()) {
        (Some(n), false) => Value::from(shifted(n)),
        (Some(n), true) => Value::String(shifted(n).to_string()),
        (None, _) => time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> Addressee<'static> {
        Addressee {
            psid: "demo",
            page: "sandbox-page",
            now_ms: SHAPES_START_MS + 86_400_000,
            salt: "s1",
        }
    }

    #[test]
    fn every_shape_is_a_page_body_addressed_to_the_sandbox() {
        for name in names() {
            let shape = entries(name, &to()).unwrap_or_else(|| panic!("{name}"));
            assert!(!shape.is_empty(), "{name}");
            let text = Value::Array(shape).to_string();
            for id in PEOPLE.iter().chain([&PAGE]) {
                assert!(!text.contains(&format!("\"{id}\"")), "{name} still names {id}");
            }
        }
        assert!(entries("no_such_shape", &to()).is_none());
    }

    #[test]
    fn every_kept_shape_is_built_in() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/messenger/webhook");
        let mut kept: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .filter_map(|file| file.ok()?.file_name().into_string().ok())
            .filter_map(|file| file.strip_suffix(".json").map(str::to_owned))
            .collect();
        kept.sort();
        assert_eq!(kept, names().collect::<Vec<_>>());
    }

    #[test]
    fn shapes_named_together_keep_the_order_named() {
        let names: Vec<String> = ["message_sticker", "message_attachment_image", "message_sticker"]
            .map(str::to_owned)
            .into();
        let batch = batch(&names, &to()).unwrap();
        let times: Vec<i64> = batch.iter().map(|e| e["time"].as_i64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert!(times.iter().all(|t| *t < to().now_ms), "{times:?}");
        let mid = |n: usize| batch[n]["messaging"][0]["message"]["mid"].as_str().unwrap().to_owned();
        assert_ne!(mid(0), mid(2), "the same shape twice is two messages");
        let unknown = vec!["message_sticker".to_owned(), "carrier_pigeon".to_owned()];
        assert_eq!(super::batch(&unknown, &to()).err(), Some("carrier_pigeon"));
    }

    #[test]
    fn times_keep_their_form_and_order_and_ids_are_fresh() {
        let postback = entries("postback_changes_field_value_user_ref", &to()).unwrap();
        let timestamp = &postback[0]["changes"][0]["value"]["timestamp"];
        let seconds: i64 = timestamp.as_str().unwrap().parse().unwrap();
        assert_eq!(seconds, 1_789_466_409 + 86_400 - 60, "{timestamp}");

        let batch = entries("batch_mixed_events", &to()).unwrap();
        let times: Vec<i64> = batch.iter().map(|e| e["time"].as_i64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert!(times.iter().all(|t| *t < to().now_ms), "{times:?}");
        assert_eq!(batch[1]["messaging"][0]["sender"]["id"], "demo");
        assert!(
            batch[1]["messaging"][0]["message"]["mid"]
                .as_str()
                .unwrap()
                .ends_with("_s1")
        );
        assert!(
            batch[0]["messaging"][0].get("sender").is_none(),
            "the opt-in keeps having no sender"
        );
    }
}
